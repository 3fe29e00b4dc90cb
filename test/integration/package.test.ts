import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { runKto } from '../support/run-cli';
import { ROOT, SHARED_CACHE_DIR } from '../support/test-stack';

const run = promisify(execFile);

/**
 * kto as a user gets it: packed (`npm pack`), a project scaffolded by `kto init`, the tarball
 * installed there, and that project's own tests run: a reduce and a map pipeline checked against
 * independent computations, an `after:` pipeline, a command through the dispatcher and a
 * workflow that runs a batch and then starts a command, on a private stack its tests start.
 */
describe('the packed package and kto init', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'kto-package-'));
  const project = path.join(work, 'my-pipelines');
  // The project's processes see none of this run's KTO_* settings: only the shared download cache.
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KTO_'))), KTO_DEVSTACK_CACHE_DIR: SHARED_CACHE_DIR, KTO_LOG_LEVEL: 'warn' };
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test('kto init, npm install of the tarball, and the project\'s own unit and integration tests pass', async () => {
    // `npm test` built dist/ already (pretest): pack it as it is.
    await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT });
    const [tarball] = readdirSync(work).filter((f) => f.endsWith('.tgz'));
    expect(tarball).toMatch(/^kafka-temporal-orchestrator-.*\.tgz$/);

    const started = Date.now();
    const init = await runKto(['init', project]);
    expect(init).toMatchObject({ code: 0, stderr: '' });
    expect(init.stdout).toContain('kto.config.ts');
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(work, tarball)], { cwd: project, env, maxBuffer: 16 << 20 });

    const tests = await run('npm', ['test'], { cwd: project, env, maxBuffer: 16 << 20 }).catch((err: { stdout: string; stderr: string }) => {
      throw new Error(`the scaffolded project's tests failed:\n${err.stdout}\n${err.stderr}`);
    });
    expect(tests.stdout).toMatch(/# pass 7\n# fail 0/);
    process.stdout.write(`  [package] kto init → green tests in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);

    // A second init into the now non-empty folder is refused, with the fix.
    const again = await runKto(['init', project]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is not an empty folder[\s\S]*fix: name a new folder/);
  }, 600_000);
});
