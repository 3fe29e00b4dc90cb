import { outputRanges, type TopicRecord } from '../support/kafka-check';

/** Output rows as the produce step writes them: each range's rows together, one transaction each. */
const rows = (partition: number, ranges: [number, number][], reason?: string): TopicRecord[] =>
  ranges.flatMap(([from, to], i) =>
    [0, 1].map((j) => ({
      partition,
      offset: BigInt(i * 3 + j),
      key: null,
      value: `{"bucket":${j}}`,
      headers: { 'kto-source-partition': String(partition), 'kto-offset-from': String(from), 'kto-offset-to': String(to), ...(reason && { 'kto-error-reason': reason }) },
    })),
  );

describe('the exactly-once checker', () => {
  it('accepts ranges that tile the partition, across output and dead letters', () => {
    expect(outputRanges(rows(0, [[0, 9], [10, 19]]), rows(0, [[20, 29]], 'bad')).get(0)).toEqual([
      { from: 0n, to: 9n },
      { from: 10n, to: 19n },
      { from: 20n, to: 29n },
    ]);
  });

  it('catches a range that landed twice, a gap and an overlap', () => {
    expect(() => outputRanges(rows(0, [[0, 9], [10, 19], [10, 19]]))).toThrow('range 10-19 landed twice');
    expect(() => outputRanges([], rows(1, [[0, 9], [0, 9]], 'bad'))).toThrow('range 0-9 landed twice');
    expect(() => outputRanges(rows(0, [[0, 9], [11, 19]]))).toThrow('should start at 10 (gap or overlap)');
    expect(() => outputRanges(rows(0, [[0, 9], [5, 19]]))).toThrow('should start at 10 (gap or overlap)');
  });
});
