import { createAggregator } from '../../src/aggregate';
import { formatSeedTimestamp, voltageSample, type VoltageRecord } from '../../src/demo/voltage';

const take = (options: Parameters<typeof voltageSample>[0]): VoltageRecord[] => [...voltageSample(options)];

describe('voltage sample', () => {
  test('the same seed gives the same records; another seed gives other voltages', () => {
    const a = take({ records: 2_000, seed: 7 });
    expect(take({ records: 2_000, seed: 7 })).toEqual(a);
    const b = take({ records: 2_000, seed: 8 });
    expect(b.map((r) => r.value)).not.toEqual(a.map((r) => r.value));
    // Only the noise depends on the seed: timestamps and partitions do not.
    expect(b.map((r) => r.partition)).toEqual(a.map((r) => r.partition));
  });

  test('good records have the seed shape: dd/MM/yyyy HH:mm:ss and a 2-decimal voltage in 230-250', () => {
    const records = take({ records: 10_000, partitions: 8 });
    const good = records.filter((r) => !r.malformed);
    expect(good).toHaveLength(10_000 - 6);
    // Collect the misfits and assert once: 10,000 expect() calls would make the test slow.
    const misfits = good.filter((r) => {
      const v = JSON.parse(r.value) as { datetime: string; voltage: number };
      return (
        Object.keys(v).join() !== 'datetime,voltage' ||
        !/^\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}:\d{2}$/.test(v.datetime) ||
        !(v.voltage >= 230 && v.voltage <= 250) ||
        Math.round(v.voltage * 100) / 100 !== v.voltage
      );
    });
    expect(misfits).toEqual([]);
    expect(JSON.parse(good[0].value)).toEqual({ datetime: '16/12/2006 17:24:00', voltage: expect.any(Number) });
  });

  test('records spread round-robin over the partitions, keyed by meter, and span several days', () => {
    const records = take({ records: 100_000, partitions: 8 });
    const counts = new Array(8).fill(0);
    for (const r of records) counts[r.partition]++;
    expect(records.filter((r, i) => r.partition !== i % 8 || r.key !== `meter-${r.partition}`)).toEqual([]);
    expect(counts).toEqual(new Array(8).fill(12_500));
    const days = new Set(records.filter((r) => !r.malformed).map((r) => (JSON.parse(r.value) as { datetime: string }).datetime.slice(0, 10)));
    expect(days.size).toBeGreaterThanOrEqual(8);
  });

  test('the malformed records hit each rejection of the aggregator, which accepts all the others', () => {
    const records = take({ records: 3_000, partitions: 3, malformed: 6 });
    expect(records.filter((r) => r.malformed).map((r) => r.malformed)).toEqual([
      'invalid-json', 'missing-field', 'bad-timestamp', 'invalid-json', 'missing-field', 'bad-timestamp',
    ]);
    const aggregator = createAggregator();
    const codes = records.map((r, i) => aggregator.add(r.value, BigInt(i))).filter((res) => !res.ok).map((res) => (res.ok ? '' : res.code));
    expect(codes).toEqual(['invalid-json', 'missing-field', 'bad-timestamp', 'invalid-json', 'missing-field', 'bad-timestamp']);
  });

  test('formats timestamps the way the seed does, in UTC', () => {
    expect(formatSeedTimestamp(new Date(Date.UTC(2006, 11, 23, 16, 52, 0)))).toBe('23/12/2006 16:52:00');
  });
});
