import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createDevStack, type DevStack, type DevStackPorts } from '../../src/devstack';

/**
 * The integration tests' own stack: a state folder per jest run under `.devstack/test/`, free
 * ports, and the download cache shared with `kto dev up`. One folder per run lets two jest runs
 * (two engineers, or a watch mode beside CI) share a machine without stopping each other's stack.
 */
export const ROOT = path.resolve(__dirname, '..', '..');
export const TEST_STACKS_DIR = path.join(ROOT, '.devstack', 'test');
export const SHARED_CACHE_DIR = path.join(ROOT, '.devstack', 'cache');
const OWNER_FILE = 'owner.pid';

export function testStack(dir: string, ports: DevStackPorts): DevStack {
  return createDevStack({
    dir,
    cacheDir: SHARED_CACHE_DIR,
    ports,
    progress: (line) => void process.stdout.write(`  [test stack] ${line}\n`),
  });
}

export function claimStackDir(): string {
  const dir = path.join(TEST_STACKS_DIR, `run-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, OWNER_FILE), `${process.pid}\n`);
  return dir;
}

/** Stacks of runs that died without teardown (Ctrl-C, crash): stop their services, drop their folders. */
export async function reapAbandonedStacks(ports: DevStackPorts): Promise<void> {
  if (!existsSync(TEST_STACKS_DIR)) return;
  for (const name of readdirSync(TEST_STACKS_DIR)) {
    const dir = path.join(TEST_STACKS_DIR, name);
    const owner = Number.parseInt(readFileSafe(path.join(dir, OWNER_FILE)), 10);
    if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) continue;
    // Ports only matter for starting; stopping finds processes by pid file and command line.
    await testStack(dir, ports).down();
    rmSync(dir, { recursive: true, force: true });
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
