#!/usr/bin/env node
// The browser test (test/e2e/ui.test.ts) drives Debian's chromium through playwright-core:
// playwright's own browser download is not available here, the distribution package is.
// Installs it when missing; a no-op when it is there or when we cannot install (not root,
// no apt), in which case the browser test says what to do.
const { existsSync } = require('node:fs');
const { spawnSync } = require('node:child_process');

const CHROMIUM_PATH = process.env.KTO_CHROMIUM_PATH || '/usr/bin/chromium';

/** Returns the chromium path, installing Debian's package first when it is absent. */
function ensureChromium() {
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  const canApt = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
  if (!canApt) return CHROMIUM_PATH;
  console.log('kto: installing chromium for the browser test (apt-get install chromium)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'chromium']]) {
    const r = spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed (exit ${r.status}); install chromium by hand: apt-get install -y chromium`);
  }
  return CHROMIUM_PATH;
}

module.exports = { ensureChromium, CHROMIUM_PATH };
if (require.main === module) ensureChromium();
