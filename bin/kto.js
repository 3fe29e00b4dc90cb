#!/usr/bin/env node
// The CLI runs the TypeScript sources through tsx: no build step between an edit and a run.
require('tsx/cjs');
require('../src/cli/main.ts');
