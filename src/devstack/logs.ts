import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tailLines } from './processes';

export { tailLines as readLogTail };

/**
 * Calls `onLine` for every line appended to the files until the signal aborts. Polls sizes
 * instead of fs.watch, which misses appends from other processes on some filesystems; a file
 * that shrinks (truncated or recreated) is read again from its start.
 */
export async function followLogs(files: string[], onLine: (file: string, line: string) => void, signal: AbortSignal): Promise<void> {
  const state = new Map(files.map((f) => [f, { offset: sizeOf(f), partial: '' }]));
  while (!signal.aborted) {
    for (const [file, s] of state) {
      const size = sizeOf(file);
      if (size < s.offset) s.offset = 0;
      if (size === s.offset) continue;
      const chunk = readRange(file, s.offset, size);
      s.offset = size;
      const lines = (s.partial + chunk).split('\n');
      s.partial = lines.pop() ?? '';
      for (const line of lines) onLine(file, line);
    }
    await sleep(300, undefined, { signal }).catch(() => undefined);
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function readRange(file: string, from: number, to: number): string {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(to - from);
    const read = readSync(fd, buffer, 0, buffer.length, from);
    return buffer.subarray(0, read).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
