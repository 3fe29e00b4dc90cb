import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isAlive, readPid } from './processes';

/**
 * Private stacks of test and benchmark runs live in `<parent>/run-<pid>` folders, each with
 * an owner file naming the process that started it. Two runs on one machine (CI beside a
 * developer, a benchmark beside tests) then never stop each other's stack, and a run that died
 * without cleaning up (Ctrl-C, kill -9) is found by the next one.
 */
const OWNER_FILE = 'owner.pid';

/** A fresh, empty run folder owned by this process. */
export function claimRunDir(parent: string): string {
  const dir = path.join(parent, `run-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, OWNER_FILE), `${process.pid}\n`);
  return dir;
}

/** Run folders whose owner is gone; a folder without an owner file was released and is left alone. */
export function abandonedRunDirs(parent: string): string[] {
  if (!existsSync(parent)) return [];
  return readdirSync(parent)
    .map((name) => path.join(parent, name))
    .filter((dir) => {
      const ownerFile = path.join(dir, OWNER_FILE);
      if (!existsSync(ownerFile)) return false;
      const owner = readPid(ownerFile);
      return owner === undefined || (owner !== process.pid && !isAlive(owner));
    });
}

/** Marks a run folder as no stack to reap any more (its logs stay to be read). */
export function releaseRunDir(dir: string): void {
  rmSync(path.join(dir, OWNER_FILE), { force: true });
}
