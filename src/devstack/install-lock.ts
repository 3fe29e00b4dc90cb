import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from './processes';

export interface InstallLockOptions {
  /** Called once when another process holds the lock, so the user knows why nothing moves. */
  onWait?: (ownerPid: number | undefined) => void;
  /** @default 15 minutes: a cold Maven download on a slow link */
  timeoutMs?: number;
}

/**
 * Runs `fn` while holding a lock directory: `mkdir` is atomic, so when `kto dev up` and a jest
 * global setup install into the same cache at once, one installs and the other waits and then
 * finds the work done. A lock whose owner died is taken over.
 */
export async function withInstallLock<T>(lockDir: string, fn: () => Promise<T>, options: InstallLockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 15 * 60_000;
  const ownerFile = path.join(lockDir, 'owner');
  const deadline = Date.now() + timeoutMs;
  let waited = false;
  mkdirSync(path.dirname(lockDir), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(ownerFile, `${process.pid}\n`);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = readOwner(ownerFile);
    if (owner === undefined ? isOlderThan(lockDir, 10_000) : !isAlive(owner)) {
      rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (!waited) options.onWait?.(owner);
    waited = true;
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${Math.round(timeoutMs / 1000)}s waiting for the install lock ${lockDir} held by pid ${owner ?? '?'}. ` +
          'If no kto install is running, delete that directory and retry.',
      );
    }
    // The owner file is written right after mkdir; a missing one is a lock being taken right now.
    await sleep(owner === undefined ? 50 : 500);
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function isOlderThan(dir: string, ms: number): boolean {
  try {
    return Date.now() - statSync(dir).mtimeMs > ms;
  } catch {
    return false;
  }
}

function readOwner(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
