/**
 * A counting semaphore bounding commands in flight across partitions. `acquire` resolves
 * `false` once closed, so a consumer waiting for room can give up when the dispatcher stops.
 */
export function createSlots(max: number) {
  let used = 0;
  let closed = false;
  const waiters: (() => void)[] = [];

  return {
    acquire(): Promise<boolean> {
      if (closed) return Promise.resolve(false);
      if (used < max) {
        used++;
        return Promise.resolve(true);
      }
      return new Promise((resolve) =>
        waiters.push(() => {
          if (closed) return resolve(false);
          used++;
          resolve(true);
        }),
      );
    },
    release(): void {
      used--;
      waiters.shift()?.();
    },
    close(): void {
      closed = true;
      for (const wake of waiters.splice(0)) wake();
    },
    used: () => used,
  };
}
