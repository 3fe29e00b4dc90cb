#!/usr/bin/env node
// Installs the npm dependencies when they are missing or older than the lockfile, so that
// `npm test` and `npm run demo` work on a fresh clone with nothing but Node.
const { existsSync, statSync } = require('node:fs');
const { execSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const lock = path.join(root, 'package-lock.json');
const stamp = path.join(root, 'node_modules', '.package-lock.json');
const fresh = existsSync(stamp) && existsSync(lock) && statSync(stamp).mtimeMs >= statSync(lock).mtimeMs;
if (!fresh) {
  console.log('kto: installing npm dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}
