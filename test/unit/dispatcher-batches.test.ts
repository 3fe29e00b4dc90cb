import { createBatchGatherer, type BatchGroup } from '../../src/dispatcher/batches';

describe('batch gatherer', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('launches a group at maxSize or maxWait after its first command, per command, partition and key', () => {
    const launched: BatchGroup<number>[] = [];
    const g = createBatchGatherer<number>((group) => launched.push(group));
    const limits = { maxSize: 3, maxWaitMs: 1_000 };
    g.add(0, { command: 'c', partition: 0, key: 'a' }, limits);
    g.add(1, { command: 'c', partition: 0, key: 'b' }, limits);
    g.add(2, { command: 'c', partition: 1, key: 'a' }, limits);
    g.add(3, { command: 'c', partition: 0, key: 'a' }, limits);
    g.add(4, { command: 'c', partition: 0, key: 'a' }, limits);
    expect(launched).toEqual([{ command: 'c', partition: 0, key: 'a', items: [0, 3, 4] }]);
    jest.advanceTimersByTime(999);
    expect(launched).toHaveLength(1);
    g.add(5, { command: 'c', partition: 0, key: 'a' }, limits);
    jest.advanceTimersByTime(1);
    expect(launched.slice(1).map((l) => l.items)).toEqual([[1], [2]]);
    g.closeAll();
    expect(launched.slice(3)).toEqual([{ command: 'c', partition: 0, key: 'a', items: [5] }]);
    jest.advanceTimersByTime(5_000);
    expect(launched).toHaveLength(4);
  });
});
