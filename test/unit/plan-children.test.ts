import { MAX_GROUP_PARTITIONS, planChildren, SMALL_PARTITION_OFFSETS } from '../../src/shared/batch';

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const backlogOf = (partitions: number[], offsets: number) => Object.fromEntries(partitions.map((p) => [p, offsets]));

describe('planChildren', () => {
  test('no more pending partitions than children at once: one child per partition', () => {
    const pending = range(64);
    expect(planChildren(pending, backlogOf(pending, 1), 64)).toEqual(pending.map((p) => [p]));
  });

  test('a listing without backlog (a run listed before groups existed): one child per partition', () => {
    expect(planChildren(range(100), undefined, 4)).toHaveLength(100);
  });

  test('1,024 small partitions, 64 at once: 64 children of 16, every partition in exactly one', () => {
    const pending = range(1_024);
    const plan = planChildren(pending, backlogOf(pending, 200), 64);
    expect(plan).toHaveLength(64);
    expect(plan.every((group) => group.length === 16)).toBe(true);
    expect(plan.flat()).toEqual(pending);
  });

  test('a partition with more than SMALL_PARTITION_OFFSETS to read keeps its own child, started first', () => {
    const pending = range(10);
    const backlog = { ...backlogOf(pending, SMALL_PARTITION_OFFSETS), 3: SMALL_PARTITION_OFFSETS + 1, 7: 5_000_000 };
    const plan = planChildren(pending, backlog, 4);
    expect(plan.slice(0, 2)).toEqual([[3], [7]]);
    // Two lanes left for eight small partitions: four to a child.
    expect(plan.slice(2)).toEqual([
      [0, 1, 2, 4],
      [5, 6, 8, 9],
    ]);
  });

  test('a pending partition missing from the backlog is not taken for small', () => {
    const pending = range(6);
    const { 5: _, ...backlog } = backlogOf(pending, 1);
    expect(planChildren(pending, backlog, 2)[0]).toEqual([5]);
  });

  test('a group never holds more than MAX_GROUP_PARTITIONS', () => {
    const pending = range(10_000);
    const plan = planChildren(pending, backlogOf(pending, 1), 8);
    expect(Math.max(...plan.map((g) => g.length))).toBe(MAX_GROUP_PARTITIONS);
    expect(plan.flat()).toHaveLength(10_000);
  });
});
