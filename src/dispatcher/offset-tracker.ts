/**
 * Which offset each partition may commit when records finish out of order. Records are
 * `track`ed in offset order as they are taken from Kafka; `done` marks one finished and returns
 * the partition's new commit position (last contiguous finished offset + 1) when it moved.
 * Committing that position means "every record before it is done", never more: a record still
 * in flight holds back the commit of every later record of its partition.
 */
export function createOffsetTracker() {
  /** Per partition: offsets not yet committable, ascending, with whether each is done. */
  const pending = new Map<number, { offsets: bigint[]; head: number; done: Set<bigint> }>();

  const lane = (partition: number) => {
    let l = pending.get(partition);
    if (!l) pending.set(partition, (l = { offsets: [], head: 0, done: new Set() }));
    return l;
  };

  return {
    track(partition: number, offset: bigint): void {
      const l = lane(partition);
      const last = l.offsets[l.offsets.length - 1];
      if (l.head < l.offsets.length && last !== undefined && offset <= last) {
        throw new Error(`offset ${offset} of partition ${partition} tracked after ${last}: records must be tracked in offset order`);
      }
      l.offsets.push(offset);
    },

    /** Marks a tracked record finished; returns the offset to commit if the partition's position advanced. */
    done(partition: number, offset: bigint): bigint | undefined {
      const l = pending.get(partition);
      if (!l) return undefined;
      l.done.add(offset);
      let next: bigint | undefined;
      while (l.head < l.offsets.length && l.done.has(l.offsets[l.head])) {
        l.done.delete(l.offsets[l.head]);
        next = l.offsets[l.head] + 1n;
        l.head++;
      }
      // Compact now and then so the array does not grow with everything ever consumed.
      if (l.head > 1024 && l.head * 2 > l.offsets.length) {
        l.offsets = l.offsets.slice(l.head);
        l.head = 0;
      }
      return next;
    },

    /** Records taken but not yet committable, over all partitions. */
    inFlight(): number {
      let n = 0;
      for (const l of pending.values()) n += l.offsets.length - l.head;
      return n;
    },
  };
}
