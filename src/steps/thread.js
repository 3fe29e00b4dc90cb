// A step thread runs the TypeScript sources through tsx, as bin/kto.js does.
require('tsx/cjs');
require('./thread-main.ts');
