import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = path.resolve(__dirname, '..');
const KTO_BIN = path.join(ROOT, 'bin', 'kto.js');
/** Workers not yet stopped, so an interrupted run can stop them before it exits. */
const live = new Set<BenchWorker>();

export interface BenchWorker {
  pid: number;
  /** Peak resident set size of the process so far (`VmHWM`), in bytes. */
  peakRss(): number;
  /** SIGTERM, then waits for kto's ordered shutdown; SIGKILL if it takes longer than `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartWorkerOptions {
  env: Record<string, string>;
  taskQueue: string;
  /** The worker's log goes to `<dir>/worker.log`. */
  dir: string;
  /** @default 120_000 (the worker bundles the workflow code before it polls) */
  readyTimeoutMs?: number;
}

/** Reads a `kB` field of /proc/<pid>/status, in bytes. */
export function procStatusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no ${field} line (is this Linux?)`);
  return Number(match[1]) * 1024;
}

/**
 * Starts `kto worker` exactly as a user would (its own process, configured by env vars), and
 * resolves once it logged that it polls, so timings exclude the workflow bundling at start.
 */
export async function startWorker(options: StartWorkerOptions): Promise<BenchWorker> {
  mkdirSync(options.dir, { recursive: true });
  const logFile = path.join(options.dir, 'worker.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  // KTO_BENCH_CPU_PROF=<dir>: the worker writes a V8 CPU profile per thread there when it stops.
  const profile = process.env.KTO_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.KTO_BENCH_CPU_PROF)}`] : [];
  const child = spawn(process.execPath, [...profile, KTO_BIN, 'worker'], {
    cwd: ROOT,
    env: { ...options.env, KTO_TEMPORAL_TASK_QUEUE: options.taskQueue, KTO_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exit: string | undefined;
  child.stdout.pipe(log);
  child.stderr.on('data', (chunk: Buffer) => {
    log.write(chunk);
    if (output.length < 1_000_000) output += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
      resolve();
    }),
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${KTO_BIN} worker`);

  const worker: BenchWorker = { pid, peakRss: () => procStatusBytes(pid, 'VmHWM'), stop };
  live.add(worker);
  async function stop(graceMs = 30_000): Promise<void> {
    live.delete(worker);
    if (!exit) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    log.end();
  }

  const deadline = Date.now() + (options.readyTimeoutMs ?? 120_000);
  while (!output.includes('"worker started"')) {
    if (exit || Date.now() > deadline) {
      await stop();
      throw new Error(`kto worker ${exit ?? 'did not start within the timeout'}; see ${logFile}`);
    }
    await sleep(100);
  }
  return worker;
}

/** Stops every worker this process started and has not stopped yet. */
export async function stopAllWorkers(): Promise<void> {
  await Promise.all([...live].map((w) => w.stop(5_000)));
}
