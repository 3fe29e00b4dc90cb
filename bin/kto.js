#!/usr/bin/env node
// The CLI runs the compiled JavaScript in dist/ (`npm run build` in a checkout of kto).
const path = require('node:path');
const { existsSync } = require('node:fs');

const main = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(main)) {
  process.stderr.write(`kto: ${main} is missing: kto is not built.\nfix: run \`npm run build\` in ${path.resolve(__dirname, '..')}\n`);
  process.exit(1);
}
require(main);
