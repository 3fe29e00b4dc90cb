import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createDevStack, findFreePorts, PORT_ENV_VARS, type DevStack, type DevStackEndpoints, type DevStackPorts, type PortName } from '../src/devstack';

/**
 * The benchmark's private stack: a state folder per run under `.devstack/bench/`, free ports,
 * and the download cache shared with `kto dev up` and the tests, so a bench run neither
 * downloads again nor disturbs a stack someone else is using.
 */
const ROOT = path.resolve(__dirname, '..');
export const BENCH_STACKS_DIR = path.join(ROOT, '.devstack', 'bench');
export const SHARED_CACHE_DIR = path.join(ROOT, '.devstack', 'cache');
const OWNER_FILE = 'owner.pid';
const PORT_NAMES = Object.keys(PORT_ENV_VARS) as PortName[];
/** Placeholder ports for stopping a stack: `down` finds processes by pid file and command line. */
const UNUSED_PORTS = Object.fromEntries(PORT_NAMES.map((name) => [name, 1])) as unknown as DevStackPorts;

async function freePorts(): Promise<DevStackPorts> {
  const ports = await findFreePorts(PORT_NAMES.length);
  return Object.fromEntries(PORT_NAMES.map((name, i) => [name, ports[i]])) as unknown as DevStackPorts;
}

export interface BenchStack {
  dir: string;
  endpoints: DevStackEndpoints;
  /** Stops the services; removes the folder after a success, keeps its logs after a failure. */
  down(outcome: 'success' | 'failure'): Promise<void>;
}

export async function startBenchStack(progress: (line: string) => void): Promise<BenchStack> {
  await reapAbandonedStacks(progress);
  const dir = path.join(BENCH_STACKS_DIR, `run-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, OWNER_FILE), `${process.pid}\n`);
  const stack = benchStack(dir, await freePorts(), progress);
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
  for (const heavy of ['data', 'staging', OWNER_FILE]) rmSync(path.join(stack.dir, heavy), { recursive: true, force: true });
}

/** Stacks of bench runs that died without stopping them (kill -9, crash): stop their services. */
async function reapAbandonedStacks(progress: (line: string) => void): Promise<void> {
  if (!existsSync(BENCH_STACKS_DIR)) return;
  for (const name of readdirSync(BENCH_STACKS_DIR)) {
    const dir = path.join(BENCH_STACKS_DIR, name);
    const ownerFile = path.join(dir, OWNER_FILE);
    if (!existsSync(ownerFile)) continue;
    const owner = Number.parseInt(readFileSafe(ownerFile), 10);
    if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) continue;
    await stop(benchStack(dir, UNUSED_PORTS, progress), 'failure');
  }
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
