import { rmSync } from 'node:fs';
import path from 'node:path';
import {
  abandonedRunDirs,
  claimRunDir,
  createDevStack,
  findFreeStackPorts,
  PORT_ENV_VARS,
  releaseRunDir,
  type DevStack,
  type DevStackEndpoints,
  type DevStackPorts,
  type PortName,
} from '../src/devstack';

/**
 * The benchmark's private stack: a state folder per run under `.devstack/bench/`, free ports,
 * and the download cache shared with `kto dev up` and the tests, so a bench run neither
 * downloads again nor disturbs a stack someone else is using.
 */
const ROOT = path.resolve(__dirname, '..');
export const BENCH_STACKS_DIR = path.join(ROOT, '.devstack', 'bench');
export const SHARED_CACHE_DIR = path.join(ROOT, '.devstack', 'cache');
const PORT_NAMES = Object.keys(PORT_ENV_VARS) as PortName[];
/** Placeholder ports for stopping a stack: `down` finds processes by pid file and command line. */
const UNUSED_PORTS = Object.fromEntries(PORT_NAMES.map((name) => [name, 1])) as unknown as DevStackPorts;

export interface BenchStack {
  dir: string;
  endpoints: DevStackEndpoints;
  /** Stops the services; removes the folder after a success, keeps its logs after a failure. */
  down(outcome: 'success' | 'failure'): Promise<void>;
}

export async function startBenchStack(progress: (line: string) => void): Promise<BenchStack> {
  // Stacks of bench runs that died without stopping them (kill -9, crash).
  for (const dir of abandonedRunDirs(BENCH_STACKS_DIR)) await stop(benchStack(dir, UNUSED_PORTS, progress), 'failure');
  const dir = claimRunDir(BENCH_STACKS_DIR);
  const stack = benchStack(dir, await findFreeStackPorts(), progress);
  let endpoints: DevStackEndpoints;
  try {
    endpoints = await stack.up();
  } catch (err) {
    await stop(stack, 'failure');
    throw err;
  }
  return { dir, endpoints, down: (outcome) => stop(stack, outcome) };
}

function benchStack(dir: string, ports: DevStackPorts, progress: (line: string) => void): DevStack {
  return createDevStack({ dir, cacheDir: SHARED_CACHE_DIR, ports, progress: (line) => progress(`[stack] ${line}`) });
}

async function stop(stack: DevStack, outcome: 'success' | 'failure'): Promise<void> {
  await stack.down();
  if (outcome === 'success') {
    rmSync(stack.dir, { recursive: true, force: true });
    return;
  }
  // Keep what explains the failure (service and worker logs), not the gigabytes of data; without
  // its owner file the folder is no longer a stack to reap, only logs to read.
  for (const heavy of ['data', 'staging']) rmSync(path.join(stack.dir, heavy), { recursive: true, force: true });
  releaseRunDir(stack.dir);
}
