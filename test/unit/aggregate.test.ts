import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mulberry32 } from '../../src/demo/prng';
import {
  AggregationSpecError,
  compileTimestampFormat,
  createAggregator,
  formatBucket,
  mergeResults,
  mergeRows,
  parseAggregationSpec,
  type AggregateRow,
  type AggregationSpecInput,
} from '../../src/aggregate';

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Seed-style timestamp (`dd/MM/yyyy HH:mm:ss`) of an epoch ms, UTC. */
function seedTimestamp(epochMs: number): string {
  const d = new Date(epochMs);
  return (
    `${pad2(d.getUTCDate())}/${pad2(d.getUTCMonth() + 1)}/${d.getUTCFullYear()} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`
  );
}

interface SeedRecord {
  datetime: string;
  voltage: number;
}

/** Minute-by-minute readings from 16/12/2006 17:24 (the seed data set's start). */
function seedRecords(n: number, seed = 1): SeedRecord[] {
  const next = mulberry32(seed);
  const start = Date.UTC(2006, 11, 16, 17, 24);
  return Array.from({ length: n }, (_, i) => ({
    datetime: seedTimestamp(start + i * 60_000),
    voltage: Math.round((223 + next() * 25) * 100) / 100,
  }));
}

function aggregate(spec: AggregationSpecInput, values: Array<string | null>): ReturnType<typeof createAggregator> {
  const agg = createAggregator(spec);
  values.forEach((v, i) => agg.add(v, BigInt(i)));
  return agg;
}

const json = (o: unknown): string => JSON.stringify(o);

describe('daily mean voltage (the seed pipeline)', () => {
  it('matches an independent straightforward computation', () => {
    const records = seedRecords(10_000);
    const agg = aggregate({}, records.map(json));

    // Independent: split the string by hand, group by date, sum naively.
    const expected = new Map<string, { n: number; total: number; min: number; max: number }>();
    for (const r of records) {
      const [date] = r.datetime.split(' ');
      const [dd, mm, yyyy] = date.split('/');
      const day = `${yyyy}-${mm}-${dd}`;
      const e = expected.get(day) ?? { n: 0, total: 0, min: Infinity, max: -Infinity };
      e.n += 1;
      e.total += r.voltage;
      e.min = Math.min(e.min, r.voltage);
      e.max = Math.max(e.max, r.voltage);
      expected.set(day, e);
    }

    const rows = agg.results();
    expect(rows.map((r) => r.key)).toEqual([...expected.keys()].sort());
    expect(rows[0].bucket).toBe('2006-12-16');
    for (const row of rows) {
      const e = expected.get(row.bucket)!;
      expect(row.count).toBe(e.n);
      expect(row.min).toBe(e.min);
      expect(row.max).toBe(e.max);
      expect(Math.abs(row.mean - e.total / e.n) / (e.total / e.n)).toBeLessThan(1e-9);
      expect(Math.abs(row.sum - e.total) / e.total).toBeLessThan(1e-9);
    }
    expect(rows.reduce((s, r) => s + r.count, 0)).toBe(records.length);
    expect(rows[0].firstOffset).toBe('0');
    expect(rows.at(-1)!.lastOffset).toBe(String(records.length - 1));
    expect(agg.accepted).toBe(records.length);
    expect(agg.rejected).toBe(0);
    expect(agg.groupCount).toBe(expected.size);
  });

  it('uses a compensated sum where naive summation loses precision', () => {
    const values = [1e16, ...Array.from({ length: 1000 }, () => 1), -1e16];
    let naive = 0;
    for (const v of values) naive += v;
    expect(naive).not.toBe(1000); // the naive sum really does lose the ones

    const agg = aggregate({}, values.map((voltage) => json({ datetime: '23/12/2006 16:52:00', voltage })));
    expect(agg.results()[0].sum).toBe(1000);
  });

  it('accepts Buffers and numeric strings like float() in the seed', () => {
    const agg = createAggregator();
    expect(agg.add(Buffer.from(json({ datetime: '23/12/2006 16:52:00', voltage: '239.94' })), 5n)).toEqual({ ok: true });
    expect(agg.add(json({ datetime: '23/12/2006 16:53:00', voltage: ' 240 ' }), 6n)).toEqual({ ok: true });
    expect(agg.add(json({ datetime: '23/12/2006 16:54:00', voltage: '2.4e2' }), 7n)).toEqual({ ok: true });
    expect(agg.add(json({ datetime: '23/12/2006 16:55:00', voltage: '-.5' }), 8n)).toEqual({ ok: true });
    const [row] = agg.results();
    expect(row).toMatchObject({ count: 4, min: -0.5, max: 240, firstOffset: '5', lastOffset: '8' });
    expect(row.sum).toBeCloseTo(239.94 + 240 + 240 - 0.5, 9);
  });

  it('tracks offset ranges by numeric order, not string order', () => {
    const rec = json({ datetime: '23/12/2006 16:52:00', voltage: 1 });
    const agg = createAggregator();
    for (const offset of [10n, 9n, 100n, 11n]) agg.add(rec, offset);
    expect(agg.results()[0]).toMatchObject({ firstOffset: '9', lastOffset: '100' });
    expect(() => agg.add(rec, -1n)).toThrow(/offset/);
  });

  it('takes offsets as numbers (as staging reads them) and bigints alike, and refuses what is not an offset', () => {
    const rec = json({ datetime: '23/12/2006 16:52:00', voltage: 1 });
    const agg = createAggregator();
    for (const offset of [2n ** 60n, 7, 2 ** 53 - 1, 3n]) agg.add(rec, offset);
    expect(agg.results()[0]).toMatchObject({ count: 4, firstOffset: '3', lastOffset: String(2n ** 60n) });
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN]) expect(() => agg.add(rec, bad)).toThrow(RangeError);
    expect(agg.results()[0].count).toBe(4);
  });
});

describe('buckets and groups', () => {
  it('buckets by hour in UTC', () => {
    const agg = aggregate({ bucket: 'hour' }, [
      json({ datetime: '23/12/2006 16:52:00', voltage: 1 }),
      json({ datetime: '23/12/2006 16:59:59', voltage: 3 }),
      json({ datetime: '23/12/2006 17:00:00', voltage: 10 }),
      json({ datetime: '24/12/2006 00:00:00', voltage: 7 }),
    ]);
    expect(agg.results().map((r) => [r.key, r.count, r.mean])).toEqual([
      ['2006-12-23T16', 2, 2],
      ['2006-12-23T17', 1, 10],
      ['2006-12-24T00', 1, 7],
    ]);
    expect(formatBucket(Date.UTC(2006, 11, 23, 16, 52), 'day')).toBe('2006-12-23');
    expect(formatBucket(Date.UTC(2006, 11, 23, 16, 52), 'hour')).toBe('2006-12-23T16');
  });

  it('groups by a record field beside the bucket', () => {
    const agg = aggregate({ groupBy: 'meter' }, [
      json({ datetime: '23/12/2006 16:52:00', voltage: 240, meter: 'b' }),
      json({ datetime: '23/12/2006 18:00:00', voltage: 230, meter: 'a' }),
      json({ datetime: '23/12/2006 19:00:00', voltage: 250, meter: 'b' }),
      json({ datetime: '24/12/2006 01:00:00', voltage: 220, meter: 7 }),
    ]);
    expect(agg.results()).toEqual<AggregateRow[]>([
      { key: '2006-12-23|a', bucket: '2006-12-23', group: 'a', count: 1, sum: 230, min: 230, max: 230, mean: 230, firstOffset: '1', lastOffset: '1' },
      { key: '2006-12-23|b', bucket: '2006-12-23', group: 'b', count: 2, sum: 490, min: 240, max: 250, mean: 245, firstOffset: '0', lastOffset: '2' },
      { key: '2006-12-24|7', bucket: '2006-12-24', group: '7', count: 1, sum: 220, min: 220, max: 220, mean: 220, firstOffset: '3', lastOffset: '3' },
    ]);
  });

  it('counts distinct values only when requested', () => {
    const values = [
      json({ datetime: '23/12/2006 16:52:00', voltage: 1, meter: 'a' }),
      json({ datetime: '23/12/2006 16:53:00', voltage: 2, meter: 'b' }),
      json({ datetime: '23/12/2006 16:54:00', voltage: 3, meter: 'a' }),
      json({ datetime: '24/12/2006 16:54:00', voltage: 4, meter: 'a' }),
      json({ datetime: '24/12/2006 16:55:00', voltage: 5, meter: 1 }),
      json({ datetime: '24/12/2006 16:56:00', voltage: 6, meter: '1' }),
    ];
    const withDistinct = aggregate({ metrics: ['mean', 'count-distinct'], distinctField: 'meter' }, values).results();
    expect(withDistinct.map((r) => [r.key, r.count, r.distinct])).toEqual([
      ['2006-12-23', 3, 2],
      ['2006-12-24', 3, 3], // 1 and "1" are different JSON values
    ]);
    const without = aggregate({ distinctField: 'meter' }, values).results();
    expect(without.every((r) => !('distinct' in r))).toBe(true);
  });
});

describe('malformed records', () => {
  const good = json({ datetime: '23/12/2006 16:52:00', voltage: 239.94, meter: 'a', site: 's1' });
  const spec: AggregationSpecInput = { groupBy: 'meter', metrics: ['mean', 'count-distinct'], distinctField: 'site' };
  const cases: Array<[string, string | null, string]> = [
    ['a tombstone', null, 'invalid-json: '],
    ['broken JSON', '{"datetime": "23/12/2006 16:52:00", ', 'invalid-json: '],
    ['an array', '[1, 2]', 'not-an-object: array'],
    ['a number', '42', 'not-an-object: number'],
    ['JSON null', 'null', 'not-an-object: null'],
    ['no timestamp', json({ voltage: 1, meter: 'a', site: 's' }), 'missing-field: datetime'],
    ['a null timestamp', json({ datetime: null, voltage: 1, meter: 'a', site: 's' }), 'missing-field: datetime'],
    ['a timestamp in another format', json({ datetime: '2006-12-23 16:52:00', voltage: 1, meter: 'a', site: 's' }), 'bad-timestamp: datetime="2006-12-23 16:52:00"'],
    ['a numeric timestamp', json({ datetime: 1166892720, voltage: 1, meter: 'a', site: 's' }), 'bad-timestamp: datetime=1166892720'],
    ['February 31st', json({ datetime: '31/02/2006 16:52:00', voltage: 1, meter: 'a', site: 's' }), 'bad-timestamp: datetime="31/02/2006 16:52:00" day 31 is not 1..28'],
    ['hour 25', json({ datetime: '23/12/2006 25:00:00', voltage: 1, meter: 'a', site: 's' }), 'bad-timestamp: datetime="23/12/2006 25:00:00" hour 25'],
    ['no value', json({ datetime: '23/12/2006 16:52:00', meter: 'a', site: 's' }), 'missing-field: voltage'],
    ['a text value', json({ datetime: '23/12/2006 16:52:00', voltage: 'abc', meter: 'a', site: 's' }), 'non-numeric-value: voltage="abc"'],
    ['an empty value', json({ datetime: '23/12/2006 16:52:00', voltage: '', meter: 'a', site: 's' }), 'non-numeric-value: voltage=""'],
    ['"NaN"', json({ datetime: '23/12/2006 16:52:00', voltage: 'NaN', meter: 'a', site: 's' }), 'non-numeric-value: voltage="NaN"'],
    ['"Infinity"', json({ datetime: '23/12/2006 16:52:00', voltage: 'Infinity', meter: 'a', site: 's' }), 'non-numeric-value: voltage="Infinity"'],
    ['an overflowing number', '{"datetime":"23/12/2006 16:52:00","voltage":1e999,"meter":"a","site":"s"}', 'non-numeric-value: voltage=null'],
    ['a hex string', json({ datetime: '23/12/2006 16:52:00', voltage: '0x10', meter: 'a', site: 's' }), 'non-numeric-value: voltage="0x10"'],
    ['a boolean value', json({ datetime: '23/12/2006 16:52:00', voltage: true, meter: 'a', site: 's' }), 'non-numeric-value: voltage=true'],
    ['a null value', json({ datetime: '23/12/2006 16:52:00', voltage: null, meter: 'a', site: 's' }), 'non-numeric-value: voltage=null'],
    ['no group field', json({ datetime: '23/12/2006 16:52:00', voltage: 1, site: 's' }), 'missing-field: meter'],
    ['an object group', json({ datetime: '23/12/2006 16:52:00', voltage: 1, meter: { id: 1 }, site: 's' }), 'non-scalar-field: meter={"id":1}'],
    ['no distinct field', json({ datetime: '23/12/2006 16:52:00', voltage: 1, meter: 'a' }), 'missing-field: site'],
  ];

  // Kafka values arrive as bytes (read without JSON.parse when flat), other callers pass text.
  it.each(cases.flatMap(([name, value, reason]) => [
    [`${name} (text)`, value, reason],
    [`${name} (bytes)`, value === null ? null : Buffer.from(value), reason],
  ]))('rejects %s with a stable reason and leaves the aggregates unchanged', (_name, value, reason) => {
    const agg = createAggregator(spec);
    expect(agg.add(Buffer.from(good), 0n)).toEqual({ ok: true });
    const before = agg.results();

    const result = agg.add(value, 1n);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason.startsWith(reason)).toBe(true);
    expect(result.reason.startsWith(`${result.code}: `)).toBe(true);
    expect(agg.results()).toEqual(before);
    expect(agg.accepted).toBe(1);
    expect(agg.rejected).toBe(1);
    expect(agg.groupCount).toBe(1);
  });

  it('does not read fields from Object.prototype', () => {
    const agg = createAggregator({ groupBy: 'constructor' });
    expect(agg.add(json({ datetime: '23/12/2006 16:52:00', voltage: 1 }), 0n)).toMatchObject({ reason: 'missing-field: constructor' });
  });

  it('keeps reasons short for huge values', () => {
    const result = createAggregator().add(json({ datetime: '23/12/2006 16:52:00', voltage: 'x'.repeat(10_000) }), 0n);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason.length).toBeLessThan(120);
  });
});

describe('timestamp formats', () => {
  const seed = compileTimestampFormat('dd/MM/yyyy HH:mm:ss');

  it('parses the seed format as UTC', () => {
    expect(seed.parse('23/12/2006 16:52:00')).toEqual({ ok: true, epochMs: Date.UTC(2006, 11, 23, 16, 52, 0) });
    expect(seed.parse('29/02/2004 00:00:00')).toEqual({ ok: true, epochMs: Date.UTC(2004, 1, 29) });
    expect(seed.parse('29/02/2000 23:59:59')).toEqual({ ok: true, epochMs: Date.UTC(2000, 1, 29, 23, 59, 59) });
  });

  it.each([
    ['31/02/2006 00:00:00', /day 31/],
    ['29/02/2006 00:00:00', /day 29 is not 1..28/],
    ['29/02/1900 00:00:00', /day 29/],
    ['31/04/2006 00:00:00', /day 31 is not 1..30/],
    ['00/01/2006 00:00:00', /day 0/],
    ['01/13/2006 00:00:00', /month 13/],
    ['01/00/2006 00:00:00', /month 0/],
    ['23/12/2006 25:00:00', /hour 25/],
    ['23/12/2006 24:00:00', /hour 24/],
    ['23/12/2006 12:60:00', /minute 60/],
    ['23/12/2006 12:00:60', /second 60/],
    ['23/12/2006 1:00:00', /does not match/],
    ['23-12-2006 16:52:00', /does not match/],
    ['2x/12/2006 16:52:00', /does not match/],
  ])('rejects %s', (raw, reason) => {
    const result = seed.parse(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it("supports custom patterns such as 'yyyy-MM-dd HH:mm' and milliseconds", () => {
    const agg = aggregate({ timestampFormat: 'yyyy-MM-dd HH:mm', bucket: 'hour' }, [
      json({ datetime: '2006-12-23 16:52', voltage: 2 }),
      json({ datetime: '2006-12-23 16:59', voltage: 4 }),
      json({ datetime: '23/12/2006 16:52:00', voltage: 100 }),
    ]);
    expect(agg.results().map((r) => [r.key, r.mean])).toEqual([['2006-12-23T16', 3]]);
    expect(agg.rejected).toBe(1);
    expect(compileTimestampFormat('yyyyMMddTHHmmss.SSS').parse('20061223T165200.250')).toEqual({
      ok: true,
      epochMs: Date.UTC(2006, 11, 23, 16, 52, 0, 250),
    });
  });

  it("supports 'iso', treating strings without an offset as UTC", () => {
    const iso = compileTimestampFormat('iso');
    expect(iso.parse('2006-12-23T16:52:00')).toEqual({ ok: true, epochMs: Date.UTC(2006, 11, 23, 16, 52) });
    expect(iso.parse('2006-12-23T16:52:00.123456Z')).toEqual({ ok: true, epochMs: Date.UTC(2006, 11, 23, 16, 52, 0, 123) });
    expect(iso.parse('2006-12-23')).toEqual({ ok: true, epochMs: Date.UTC(2006, 11, 23) });
    expect(iso.parse('2006-12-23 23:30:00-01:00')).toEqual({ ok: true, epochMs: Date.UTC(2006, 11, 24, 0, 30) });
    expect(iso.parse('2006-12-23T01:00+0200')).toEqual({ ok: true, epochMs: Date.UTC(2006, 11, 22, 23) });
    expect(iso.parse('2006-02-30T00:00:00Z').ok).toBe(false);
    expect(iso.parse('23/12/2006 16:52:00').ok).toBe(false);
    expect(iso.parse('Dec 23 2006').ok).toBe(false);

    const agg = aggregate({ timestampFormat: 'iso' }, [
      json({ datetime: '2006-12-23T23:30:00-01:00', voltage: 1 }),
      json({ datetime: '2006-12-23T23:30:00Z', voltage: 3 }),
    ]);
    expect(agg.results().map((r) => r.key)).toEqual(['2006-12-23', '2006-12-24']);
  });

  it("supports 'epoch-ms' and 'epoch-s' numbers", () => {
    const ms = Date.UTC(2006, 11, 23, 16, 52);
    const agg = aggregate({ timestampField: 'ts', timestampFormat: 'epoch-ms' }, [
      json({ ts: ms, voltage: 1 }),
      json({ ts: String(ms + 86_400_000), voltage: 2 }),
      json({ ts: '23/12/2006 16:52:00', voltage: 3 }),
      json({ ts: 1e20, voltage: 4 }),
    ]);
    expect(agg.results().map((r) => r.key)).toEqual(['2006-12-23', '2006-12-24']);
    expect(agg.rejected).toBe(2);
    expect(compileTimestampFormat('epoch-s').parse(ms / 1000 + 0.001)).toEqual({ ok: true, epochMs: ms + 1 });
  });
});

describe('spec', () => {
  it('fills the seed defaults in one place', () => {
    expect(parseAggregationSpec({})).toEqual({
      timestampField: 'datetime',
      timestampFormat: 'dd/MM/yyyy HH:mm:ss',
      bucket: 'day',
      valueField: 'voltage',
      metrics: ['count', 'sum', 'min', 'max', 'mean'],
    });
  });

  it.each<[string, unknown, RegExp]>([
    ['count-distinct without distinctField', { metrics: ['count-distinct'] }, /distinctField: distinctField is required when metrics include "count-distinct": set it/],
    ['empty metrics', { metrics: [] }, /metrics: metrics must name at least one of count, sum/],
    ['an unknown metric', { metrics: ['median'] }, /metrics\.0/],
    ['a two-digit year', { timestampFormat: 'dd/MM/yy HH:mm' }, /timestampFormat: .*unknown token/],
    ['a format without a day', { timestampFormat: 'yyyy-MM' }, /must contain yyyy, MM and dd/],
    ['a repeated token', { timestampFormat: 'yyyy-MM-dd dd' }, /uses "dd" twice/],
    ['an unknown bucket', { bucket: 'week' }, /bucket/],
    ['a misspelt key', { groupby: 'meter' }, /groupby/],
  ])('rejects %s with a message naming the field', (_name, input, message) => {
    expect(() => parseAggregationSpec(input)).toThrow(AggregationSpecError);
    expect(() => parseAggregationSpec(input)).toThrow(message);
    expect(() => createAggregator(input as AggregationSpecInput)).toThrow(AggregationSpecError);
  });
});

describe('merging partial results', () => {
  it('merges two halves into the whole', () => {
    const values = seedRecords(5_000, 7).map(json);
    const whole = aggregate({}, values).results();
    const first = createAggregator();
    const second = createAggregator();
    values.forEach((v, i) => (i < 2_345 ? first : second).add(v, BigInt(i)));

    const merged = mergeResults(first.results(), second.results());
    expect(merged.map((r) => r.key)).toEqual(whole.map((r) => r.key));
    merged.forEach((row, i) => {
      const w = whole[i];
      expect({ ...row, sum: 0, mean: 0 }).toEqual({ ...w, sum: 0, mean: 0 });
      expect(Math.abs(row.sum - w.sum) / w.sum).toBeLessThan(1e-12);
      expect(Math.abs(row.mean - w.mean) / w.mean).toBeLessThan(1e-12);
    });

    // The day split between the two halves is where mergeRows really combines.
    const splitDay = first.results().at(-1)!;
    const other = second.results()[0];
    expect(splitDay.key).toBe(other.key);
    const combined = mergeRows(other, splitDay);
    expect(combined.count).toBe(splitDay.count + other.count);
    expect(combined.firstOffset).toBe(splitDay.firstOffset);
    expect(combined.lastOffset).toBe(other.lastOffset);
  });

  it('refuses rows of different keys and drops distinct, which is not mergeable', () => {
    const rows = aggregate({ metrics: ['count-distinct'], distinctField: 'm' }, [
      json({ datetime: '23/12/2006 16:52:00', voltage: 1, m: 'a' }),
      json({ datetime: '24/12/2006 16:52:00', voltage: 2, m: 'a' }),
    ]).results();
    expect(() => mergeRows(rows[0], rows[1])).toThrow(/different keys/);
    const merged = mergeRows(rows[0], rows[0]);
    expect(merged.count).toBe(2);
    expect('distinct' in merged).toBe(false);
  });
});

describe('bounded memory', () => {
  /** A full GC before each heap reading, so that the delta is retained memory, not garbage. */
  function collectGarbage(): void {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  }

  it('streams 1,000,000 records with a small number of groups in little heap', () => {
    const agg = createAggregator();
    // One reading every 5 s from the seed's first minute: about 58 days, so under 60 groups.
    const start = Date.UTC(2006, 11, 16, 17, 24);
    const slotsPerDay = 86_400 / 5;
    const times = Array.from({ length: slotsPerDay }, (_, s) => seedTimestamp(s * 5_000).slice(10));
    const firstSlot = (start % 86_400_000) / 5_000;
    let datePart = '';
    collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) {
      const slot = (firstSlot + i) % slotsPerDay;
      if (slot === 0 || i === 0) datePart = seedTimestamp(start + i * 5_000).slice(0, 10);
      agg.add(`{"datetime":"${datePart}${times[slot]}","voltage":${230 + (i % 997) / 100}}`, BigInt(i));
    }
    collectGarbage();
    const heapDelta = process.memoryUsage().heapUsed - heapBefore;

    expect(agg.accepted).toBe(1_000_000);
    const dayOf = (t: number): number => Math.floor(t / 86_400_000);
    expect(agg.groupCount).toBe(dayOf(start + 999_999 * 5_000) - dayOf(start) + 1);
    expect(agg.results().reduce((s, r) => s + r.count, 0)).toBe(1_000_000);
    expect(heapDelta).toBeLessThan(50 * 1024 * 1024);
  });
});
