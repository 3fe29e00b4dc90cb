import { createOffsetTracker } from '../../src/dispatcher/offset-tracker';

describe('offset tracker (per-partition in-order commits)', () => {
  it('commits only past the lowest unfinished offset of a partition', () => {
    const t = createOffsetTracker();
    for (const o of [10n, 11n, 12n]) t.track(0, o);
    expect(t.done(0, 12n)).toBeUndefined();
    expect(t.done(0, 11n)).toBeUndefined();
    expect(t.done(0, 10n)).toBe(13n);
    expect(t.inFlight()).toBe(0);
  });

  it('advances step by step when records finish in order', () => {
    const t = createOffsetTracker();
    t.track(0, 0n);
    t.track(0, 1n);
    expect(t.done(0, 0n)).toBe(1n);
    expect(t.done(0, 1n)).toBe(2n);
  });

  it('keeps partitions independent', () => {
    const t = createOffsetTracker();
    t.track(0, 5n);
    t.track(1, 7n);
    t.track(0, 6n);
    expect(t.done(1, 7n)).toBe(8n);
    expect(t.done(0, 6n)).toBeUndefined();
    expect(t.inFlight()).toBe(2);
    expect(t.done(0, 5n)).toBe(7n);
  });

  it('handles offset gaps (compaction, transaction markers)', () => {
    const t = createOffsetTracker();
    t.track(2, 3n);
    t.track(2, 9n);
    expect(t.done(2, 9n)).toBeUndefined();
    expect(t.done(2, 3n)).toBe(10n);
  });

  it('refuses offsets tracked out of order', () => {
    const t = createOffsetTracker();
    t.track(0, 4n);
    expect(() => t.track(0, 4n)).toThrow(/offset order/);
    expect(() => t.track(0, 2n)).toThrow(/offset order/);
  });

  it('ignores completions of untracked partitions', () => {
    expect(createOffsetTracker().done(3, 1n)).toBeUndefined();
  });

  it('stays correct across compaction of a long run with random completion order', () => {
    const t = createOffsetTracker();
    const n = 5000;
    for (let i = 0; i < n; i++) t.track(0, BigInt(i));
    const order = Array.from({ length: n }, (_, i) => i);
    // Deterministic shuffle within windows of 64: realistic out-of-order finishing.
    for (let w = 0; w < n; w += 64) order.splice(w, 64, ...order.slice(w, w + 64).reverse());
    const finished = new Set<number>();
    let committed = 0n;
    for (const i of order) {
      finished.add(i);
      const next = t.done(0, BigInt(i));
      if (next === undefined) continue;
      // Never past an unfinished record: every offset below the new position has finished.
      for (let o = Number(committed); o < Number(next); o++) expect(finished.has(o)).toBe(true);
      committed = next;
    }
    expect(committed).toBe(BigInt(n));
    expect(t.inFlight()).toBe(0);
  });
});
