import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');

export interface WorkerProcess extends TestProcess {
  /** Waits until an activity is parked at the hold point. */
  held(timeoutMs?: number): Promise<void>;
  release(): void;
  /** How the held activity ended (`completed` or `failed: <message>`), once it has. */
  done(): string | undefined;
}

export interface TestProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** What the process logged so far. */
  log(): string;
  /** Sends `signal` (default SIGKILL); waits for the exit after SIGKILL or SIGTERM. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Runs a test/support script (fault-worker.ts, fault-dispatcher.ts) as its own process through
 * tsx, with the test stack's env plus `env` (undefined leaves a variable out), so a test can kill -9 it. Its output goes to `<dir>/<name>.log`.
 */
export function startTestProcess(options: { script: string; name: string; dir: string; env: Record<string, string | undefined> }): TestProcess {
  mkdirSync(options.dir, { recursive: true });
  const logFile = path.join(options.dir, `${options.name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'test/support', options.script)], {
    cwd: ROOT,
    env: { ...process.env, KTO_LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    log: () => readFileSync(logFile, 'utf8'),
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited;
    },
  };
}

/**
 * Starts `kto worker` as its own process (optionally with a hold point, see fault-worker.ts),
 * so a test can kill -9 it. Its log goes to `<dir>/worker.log`.
 */
export function startWorkerProcess(options: { taskQueue: string; dir: string; hold?: string; env?: Record<string, string> }): WorkerProcess {
  const proc = startTestProcess({
    script: 'fault-worker.ts',
    name: 'worker',
    dir: options.dir,
    env: { KTO_TEMPORAL_TASK_QUEUE: options.taskQueue, KTO_TEST_HOLD: options.hold ?? '', KTO_TEST_HOLD_DIR: options.dir, ...options.env },
  });
  return {
    ...proc,
    held: (timeoutMs = 90_000) =>
      waitFor(() => existsSync(path.join(options.dir, 'held')), { timeoutMs, description: `worker to hold at ${options.hold}` }).then(() => undefined),
    release: () => writeFileSync(path.join(options.dir, 'release'), ''),
    done: () => (existsSync(path.join(options.dir, 'done')) ? readFileSync(path.join(options.dir, 'done'), 'utf8') : undefined),
  };
}
