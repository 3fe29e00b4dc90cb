import Table from 'cli-table3';

/** A table without colours when the output is not a terminal (files, pipes, tests). */
export function newTable(head: string[], options: ConstructorParameters<typeof Table>[0] = {}): InstanceType<typeof Table> {
  const plain = !process.stdout.isTTY;
  return new Table({ head, ...options, ...(plain ? { style: { head: [], border: [] } } : {}) });
}

/** Milliseconds as `12.3s`; `-` when unknown. */
export const secs = (ms: number | null): string => (ms === null ? '-' : `${(ms / 1000).toFixed(1)}s`);

/** An ISO timestamp without its `T` and fraction: `2026-11-23 13:46:40Z`. */
export const shortTime = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
