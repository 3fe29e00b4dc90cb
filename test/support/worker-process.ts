import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');

export interface WorkerProcess {
  child: ChildProcess;
  /** Waits until an activity is parked at the hold point. */
  held(timeoutMs?: number): Promise<void>;
  release(): void;
  kill(signal?: NodeJS.Signals): Promise<void>;
  exited: Promise<number | null>;
}

/**
 * Starts `kto worker` as its own process (optionally with a hold point, see fault-worker.ts),
 * so a test can kill -9 it. Its log goes to `<dir>/worker.log`.
 */
export function startWorkerProcess(options: { taskQueue: string; dir: string; hold?: string; env?: Record<string, string> }): WorkerProcess {
  mkdirSync(options.dir, { recursive: true });
  const log = createWriteStream(path.join(options.dir, 'worker.log'), { flags: 'a' });
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'test/support/fault-worker.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      KTO_TEMPORAL_TASK_QUEUE: options.taskQueue,
      KTO_TEST_HOLD: options.hold ?? '',
      KTO_TEST_HOLD_DIR: options.dir,
      KTO_LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    held: (timeoutMs = 90_000) =>
      waitFor(() => existsSync(path.join(options.dir, 'held')), { timeoutMs, description: `worker to hold at ${options.hold}` }).then(() => undefined),
    release: () => writeFileSync(path.join(options.dir, 'release'), ''),
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited;
    },
  };
}
