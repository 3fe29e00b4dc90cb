import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** What to run for one service, and where its pid and output go. */
export interface DetachedCommand {
  command: string;
  args: string[];
  pidFile: string;
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts a process that outlives the CLI: its own session and process group (so stopping it
 * reaches any child it forks), output appended to the log file, pid written to the pid file.
 */
export function spawnDetached(cmd: DetachedCommand): ChildProcess {
  mkdirSync(path.dirname(cmd.pidFile), { recursive: true });
  mkdirSync(path.dirname(cmd.logFile), { recursive: true });
  const out = openSync(cmd.logFile, 'a');
  try {
    writeFileSync(out, `\n--- kto dev: ${new Date().toISOString()} ${cmd.command} ${cmd.args.join(' ')}\n`);
    const child = spawn(cmd.command, cmd.args, {
      cwd: cmd.cwd,
      env: cmd.env ?? process.env,
      detached: true,
      stdio: ['ignore', out, out],
    });
    if (child.pid === undefined) throw new Error(`could not start ${cmd.command}`);
    writeFileSync(cmd.pidFile, `${child.pid}\n`);
    child.unref();
    return child;
  } finally {
    closeSync(out);
  }
}

/** The pid in a pid file, or undefined when the file is missing or unreadable. */
export function readPid(pidFile: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the pid exists but belongs to someone else, so it is not ours either way.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readArgv(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

const hasProcFs = (() => {
  let known: boolean | undefined;
  return () => (known ??= readArgv(process.pid) !== undefined);
})();

/** True when every part of the signature is one whole argument of the command line. */
function matches(argv: string[], signature: string[]): boolean {
  return signature.every((part) => argv.includes(part));
}

/**
 * True when the pid is alive and runs the service: its arguments include the signature (the
 * program plus a path unique to this stack). Guards against pid reuse, so a stale pid file never
 * makes us signal a stranger. Without /proc (macOS) the liveness check alone has to do.
 */
export function isOwnProcess(pid: number, signature: string[]): boolean {
  if (!isAlive(pid)) return false;
  if (!hasProcFs()) return true;
  const argv = readArgv(pid);
  return argv !== undefined && matches(argv, signature);
}

/**
 * Processes whose arguments carry the signature, found by scanning /proc: catches a service
 * whose pid file was lost (deleted state dir, crash between spawn and write) so `down` still
 * stops it. Empty without /proc.
 */
export function findProcesses(signature: string[]): number[] {
  if (!hasProcFs()) return [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => pid !== process.pid)
    .filter((pid) => {
      const argv = readArgv(pid);
      return argv !== undefined && matches(argv, signature);
    });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

export interface StopResult {
  /** True when SIGTERM was not enough within the grace period. */
  killed: boolean;
  elapsedMs: number;
}

/** SIGTERM to the whole process group, then SIGKILL after the grace period. */
export async function stopProcessGroup(pid: number, graceMs = 10_000): Promise<StopResult> {
  const start = Date.now();
  signalGroup(pid, 'SIGTERM');
  while (Date.now() - start < graceMs) {
    if (!isAlive(pid) && !groupAlive(pid)) return { killed: false, elapsedMs: Date.now() - start };
    await sleep(100);
  }
  signalGroup(pid, 'SIGKILL');
  while (isAlive(pid) && Date.now() - start < graceMs + 5_000) await sleep(50);
  return { killed: true, elapsedMs: Date.now() - start };
}

/** True while any member of the process group still runs (signal 0 to the group). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function removeFile(file: string): void {
  rmSync(file, { force: true });
}

/** The last lines of a file, for error messages; empty when the file does not exist. */
export function tailLines(file: string, lines: number): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const all = text.split('\n');
  if (all[all.length - 1] === '') all.pop();
  return all.slice(-lines);
}
