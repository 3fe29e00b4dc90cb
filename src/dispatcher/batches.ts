/**
 * Gathers batched commands (a command definition's `batch`) into groups: one per command,
 * partition and, with `by: 'key'`, Kafka key. A group is handed to `launch` when it holds
 * `maxSize` commands or `maxWait` after its first command arrived, whichever comes first.
 * Commands reach a group in offset order, so a group's first command has its lowest offset.
 */
export interface BatchGroup<T> {
  command: string;
  partition: number;
  /** The Kafka key (`by: 'key'`), else null. */
  key: string | null;
  items: T[];
}

export function createBatchGatherer<T>(launch: (group: BatchGroup<T>) => void) {
  const open = new Map<string, { group: BatchGroup<T>; timer: NodeJS.Timeout }>();

  function close(id: string): void {
    const entry = open.get(id);
    if (!entry) return;
    open.delete(id);
    clearTimeout(entry.timer);
    launch(entry.group);
  }

  return {
    add(item: T, where: Omit<BatchGroup<T>, 'items'>, limits: { maxSize: number; maxWaitMs: number }): void {
      const id = JSON.stringify([where.command, where.partition, where.key]);
      let entry = open.get(id);
      if (!entry) {
        entry = { group: { ...where, items: [] }, timer: setTimeout(() => close(id), limits.maxWaitMs) };
        open.set(id, entry);
      }
      entry.group.items.push(item);
      if (entry.group.items.length >= limits.maxSize) close(id);
    },
    /** Launches every open group now (the dispatcher is stopping). */
    closeAll(): void {
      for (const id of [...open.keys()]) close(id);
    },
  };
}
