import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AggregationSpecError, createAggregator } from '../../src/aggregate';
import { aggregateProcessor } from '../../src/processors/aggregate';
import { defineMap, defineReduce, RecordError, resolveProcessorExport, type InputRecord, type ProcessorContext } from '../../src/processors/define';
import { createProcessorRun, type EncodedOutput } from '../../src/processors/engine';
import { createStagingWriter, readStagingChunks } from '../../src/steps/staging';
import { runProcessor } from '../../src/testing/run-processor';
import { mulberry32 } from '../../src/demo/prng';

const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-processors-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface AccessLog {
  ts: string;
  path: string;
  status: number;
  ms: number;
}

const PATHS = ['/', '/api/orders', '/api/users', '/login'];

function accessLogs(n: number, seed = 1): AccessLog[] {
  const next = mulberry32(seed);
  const start = Date.UTC(2024, 4, 1, 9, 30);
  return Array.from({ length: n }, (_, i) => ({
    ts: new Date(start + i * 7_000).toISOString(),
    path: PATHS[Math.floor(next() * PATHS.length)],
    status: next() < 0.05 ? 503 : 200,
    // Skewed latencies: mostly fast, a slow tail.
    ms: Math.floor(next() ** 3 * 2_000),
  }));
}

const MAX_MS = 2_000;

/** p95 of latency per hour and path, with a fixed-size histogram as the bounded state. */
const p95ByHourAndPath = defineReduce<AccessLog, { count: number; histogram: number[] }>({
  key: (r) => `${r.value.ts.slice(0, 13)}|${r.value.path}`,
  init: () => ({ count: 0, histogram: new Array<number>(MAX_MS + 1).fill(0) }),
  add(state, r) {
    const { ms } = r.value;
    if (!Number.isInteger(ms) || ms < 0) throw new RecordError(`bad-latency: ${JSON.stringify(ms)}`);
    state.histogram[Math.min(ms, MAX_MS)] += 1;
    state.count += 1;
    return state;
  },
  merge: (a, b) => ({ count: a.count + b.count, histogram: a.histogram.map((n, i) => n + b.histogram[i]) }),
  emit(state, key) {
    const rank = Math.ceil(0.95 * state.count);
    let seen = 0;
    let ms = 0;
    while (seen + state.histogram[ms] < rank) seen += state.histogram[ms++];
    return { key, requests: state.count, p95Ms: ms };
  },
});

describe('reduce processors', () => {
  it('computes p95 latency per path and hour, as an independent sort-based computation does', async () => {
    const logs = accessLogs(5_000);
    const { outputs, errors } = await runProcessor(p95ByHourAndPath, logs);

    const byKey = new Map<string, number[]>();
    for (const log of logs) {
      const key = `${log.ts.slice(0, 13)}|${log.path}`;
      byKey.set(key, [...(byKey.get(key) ?? []), log.ms]);
    }
    const expected = [...byKey.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, values]) => {
        const sorted = [...values].sort((a, b) => a - b);
        return { key, value: { key, requests: values.length, p95Ms: sorted[Math.ceil(0.95 * sorted.length) - 1] } };
      });
    expect(errors).toEqual([]);
    expect(outputs).toEqual(expected);
    expect(outputs.length).toBeGreaterThan(PATHS.length * 5);
  });

  it('dead-letters a record whose add throws a RecordError with its reason verbatim, and goes on', async () => {
    const logs = accessLogs(20);
    const records = logs.map((log, i) => (i === 3 ? { ...log, ms: -1 } : i === 11 ? { ...log, ms: 'slow' } : log));
    const { outputs, errors } = await runProcessor(p95ByHourAndPath, records);
    expect(errors).toEqual([
      { offset: 3, value: records[3], reason: 'bad-latency: -1' },
      { offset: 11, value: records[11], reason: 'bad-latency: "slow"' },
    ]);
    expect(outputs.reduce((n, o) => n + (o.value as { requests: number }).requests, 0)).toBe(18);
  });

  it('dead-letters exactly the records whose key or add throws, with processor-error, and emits no key only they asked for', async () => {
    const counter = defineReduce<{ k: string; n: number }, number>({
      key(r) {
        if (r.value.k === 'bad-key') throw new Error(`no key for ${r.value.n}`);
        return r.value.k;
      },
      init: () => 0,
      add(total, r) {
        if (r.value.n % 5 === 0) throw new TypeError(`cannot add ${r.value.n}`);
        return total + r.value.n;
      },
      merge: (a, b) => a + b,
      emit: (total) => total,
    });
    const records = [
      { k: 'a', n: 1 },
      { k: 'bad-key', n: 2 },
      { k: 'a', n: 3 },
      { k: 'only-rejected', n: 5 },
      { k: 'b', n: 4 },
      { k: 'a', n: 10 },
      { k: 'b', n: 6 },
    ];
    const { outputs, errors } = await runProcessor(counter, records);
    expect(errors.map((e) => [e.offset, e.reason])).toEqual([
      [1, 'processor-error: no key for 2'],
      [3, 'processor-error: cannot add 5'],
      [5, 'processor-error: cannot add 10'],
    ]);
    expect(outputs).toEqual([
      { key: 'a', value: 4 },
      { key: 'b', value: 10 },
    ]);
  });

  it('fails the run when init, emit or a state-less add is at fault, not one record', async () => {
    const base = { key: () => 'k', init: () => ({}), add: (s: object) => s, merge: (a: object) => a, emit: () => 1 };
    await expect(runProcessor(defineReduce({ ...base, init: () => { throw new Error('no state'); } }), [1])).rejects.toThrow('no state');
    await expect(runProcessor(defineReduce({ ...base, emit: () => undefined }), [1])).rejects.toThrow(/emit\(\) gave an output value JSON cannot express/);
    await expect(runProcessor(defineReduce({ ...base, add: () => undefined }), [1])).rejects.toThrow(/add\(\) must return the state/);
  });

  it('catches a merge that is not consistent with add', async () => {
    const sum = { key: () => 'all', init: () => 0, add: (s: number, r: InputRecord<number>) => s + r.value, emit: (s: number) => s };
    await expect(runProcessor(defineReduce({ ...sum, merge: (a: number) => a }), [1, 2, 3, 4])).rejects.toThrow(
      /merge is not consistent with add: for key "all" one pass emits 10 but reducing two halves and merging them emits 3/,
    );
    await expect(runProcessor(defineReduce({ ...sum, merge: (a: number, b: number) => a + b }), [1, 2, 3, 4])).resolves.toMatchObject({
      outputs: [{ key: 'all', value: 10 }],
    });
  });
});

describe('map processors', () => {
  const serverErrors = defineMap<AccessLog>({
    transform(r, ctx) {
      if (r.value.status < 500) return null;
      const headers = { status: String(r.value.status), from: `${ctx.topic}/${ctx.partition}@${r.offset}` };
      const line = { key: r.value.path, value: Buffer.from(`${r.value.ts} ${r.value.path} ${r.value.ms}ms`), headers };
      // Slow failures also go out as JSON under a second key.
      return r.value.ms > 1_000 ? [line, { key: `slow|${r.value.path}`, value: { ms: r.value.ms } }] : line;
    },
  });

  it('filters and re-keys, with headers and Buffer values, in record order', async () => {
    const logs = accessLogs(2_000, 3);
    const { outputs, errors } = await runProcessor(serverErrors, logs, { topic: 'access', partition: 2 });
    const expected = logs.flatMap((log, offset) => {
      if (log.status < 500) return [];
      const line = {
        key: log.path,
        value: Buffer.from(`${log.ts} ${log.path} ${log.ms}ms`),
        headers: { status: '503', from: `access/2@${offset}` },
      };
      return log.ms > 1_000 ? [line, { key: `slow|${log.path}`, value: { ms: log.ms } }] : [line];
    });
    expect(errors).toEqual([]);
    expect(expected.some((o) => o.key.startsWith('slow|'))).toBe(true);
    expect(outputs).toEqual(expected);
  });

  it('rejects a record whose transform throws or gives an output that cannot be written, and writes none of its outputs', async () => {
    const picky = defineMap<number>({
      transform(r) {
        if (r.value === 3) throw new Error('three');
        if (r.value === 4) return [{ value: 'ok' }, { value: undefined }];
        if (r.value === 5) return { key: 5 as unknown as string, value: 1 };
        if (r.value === 6) throw new RecordError('too-big: 6');
        return [{ key: `k${r.value}`, value: r.value }, { value: r.value * 10 }];
      },
    });
    const { outputs, errors } = await runProcessor(picky, [1, 3, 4, 5, 6, 7]);
    expect(errors).toEqual([
      { offset: 1, value: 3, reason: 'processor-error: three' },
      { offset: 2, value: 4, reason: 'processor-error: transform() gave an output value JSON cannot express (undefined): return a JSON value or a Buffer' },
      { offset: 3, value: 5, reason: 'processor-error: an output key must be a string or null, got number' },
      { offset: 4, value: 6, reason: 'too-big: 6' },
    ]);
    expect(outputs).toEqual([
      { key: 'k1', value: 1 },
      { key: null, value: 10 },
      { key: 'k7', value: 7 },
      { key: null, value: 70 },
    ]);
  });
});

describe('decoding', () => {
  const echo = defineMap({ transform: (r) => ({ value: { type: Buffer.isBuffer(r.value) ? 'buffer' : r.value === null ? 'null' : typeof r.value, value: Buffer.isBuffer(r.value) ? r.value.toString('hex') : r.value } }) });
  const records = [{ a: 1 }, 'plain text', Buffer.from([0xde, 0xad]), null, { value: '[1,2]', offset: 40 }];

  it('parses JSON by default and rejects tombstones and broken JSON', async () => {
    const { outputs, errors } = await runProcessor(echo, records);
    expect(outputs.map((o) => o.value)).toEqual([{ type: 'object', value: { a: 1 } }, { type: 'object', value: [1, 2] }]);
    expect(errors.map((e) => [e.offset, e.reason.replace(/(invalid-json: ).*/, '$1…')])).toEqual([
      [1, 'invalid-json: …'],
      [2, 'invalid-json: …'],
      [3, 'invalid-json: …'],
    ]);
    expect(errors[2].reason).toBe('invalid-json: message value is null (tombstone)');
  });

  it('gives text as a string and rejects a tombstone', async () => {
    const { outputs, errors } = await runProcessor(defineMap({ ...echo, decode: 'text' }), records);
    expect(outputs.map((o) => o.value)).toEqual([
      { type: 'string', value: '{"a":1}' },
      { type: 'string', value: 'plain text' },
      { type: 'string', value: Buffer.from([0xde, 0xad]).toString('utf8') },
      { type: 'string', value: '[1,2]' },
    ]);
    expect(errors).toEqual([{ offset: 3, value: null, reason: 'tombstone: message value is null' }]);
  });

  it('gives bytes as a Buffer and a tombstone as null; runProcessor may override decode', async () => {
    const { outputs, errors } = await runProcessor(echo, records, { decode: 'bytes' });
    expect(outputs.map((o) => o.value)).toEqual([
      { type: 'buffer', value: Buffer.from('{"a":1}').toString('hex') },
      { type: 'buffer', value: Buffer.from('plain text').toString('hex') },
      { type: 'buffer', value: 'dead' },
      { type: 'null', value: null },
      { type: 'buffer', value: Buffer.from('[1,2]').toString('hex') },
    ]);
    expect(errors).toEqual([]);
    expect(() => defineMap({ ...echo, decode: 'xml' as 'json' })).toThrow(/decode must be one of json, text, bytes, avro, got "xml"/);
  });

  it('runs an Avro processor on records given decoded (no registry in a unit test)', async () => {
    const totals = defineReduce<{ customer: string; cents: number }, number>({
      decode: 'avro',
      key: (r) => r.value.customer,
      init: () => 0,
      add: (s, r) => s + r.value.cents,
      merge: (a, b) => a + b,
      emit: (s, customer) => ({ customer, cents: s }),
    });
    const { outputs } = await runProcessor(totals, [{ customer: 'a', cents: 5 }, { customer: 'b', cents: 1 }, { customer: 'a', cents: 2 }]);
    expect(outputs.map((o) => o.value)).toEqual([{ customer: 'a', cents: 7 }, { customer: 'b', cents: 1 }]);
  });
});

describe('processor modules', () => {
  const definePath = path.resolve(__dirname, '../../src/processors/define');
  const write = (name: string, source: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, source);
    return file;
  };

  it('loads a default export, a factory given the options, and a CommonJS module.exports', async () => {
    const tsModule = write(
      'upper.ts',
      `import { defineMap } from ${JSON.stringify(definePath)};\n` +
        `export default defineMap<string>({ decode: 'text', transform: (r) => ({ key: r.value, value: r.value.toUpperCase() }) });\n`,
    );
    expect((await runProcessor(tsModule, ['a', 'b'])).outputs).toEqual([
      { key: 'a', value: 'A' },
      { key: 'b', value: 'B' },
    ]);

    const factory = write(
      'factory.ts',
      `import { defineMap } from ${JSON.stringify(definePath)};\n` +
        `export default (options: { field: string }) => defineMap({ transform: (r, ctx) => ({ value: [r.value[options.field], ctx.options] }) });\n`,
    );
    expect((await runProcessor(factory, [{ x: 1 }], { options: { field: 'x' } })).outputs).toEqual([{ key: null, value: [1, { field: 'x' }] }]);

    const cjs = write('cjs.js', `module.exports = { kind: 'map', transform: (r) => ({ value: r.value * 2 }) };\n`);
    expect((await runProcessor(cjs, [21])).outputs).toEqual([{ key: null, value: 42 }]);
  });

  it('names what a module exports when it is neither a processor nor a factory, and the fix', async () => {
    const plain = write('plain.js', `module.exports = { transform: (r) => r };\n`);
    await expect(runProcessor(plain, [1])).rejects.toThrow(/exports an object with keys transform, which is neither a processor nor a factory\. Fix: `export default defineMap/);
    const named = write('named.ts', `export const processor = 1;\n`);
    await expect(runProcessor(named, [1])).rejects.toThrow(/exports an object with keys processor, which is neither/);
    expect(() => resolveProcessorExport({ default: undefined }, undefined)).toThrow(/exports nothing \(undefined: is there an `export default`\?\)/);
    expect(() => resolveProcessorExport(() => ({ kind: 'map' }), undefined)).toThrow(/needs the functions transform/);
    expect(() => resolveProcessorExport(function make() { return 'x'; }, undefined)).toThrow(
      /exports a function \(taken as a factory\), but it returned a string \(x\)\. Fix:/,
    );
  });
});

describe('the built-in aggregation as a reduce processor', () => {
  const reading = (datetime: string, voltage: unknown, meter?: unknown) => ({ datetime, voltage, ...(meter !== undefined && { meter }) });

  it('emits the rows the aggregator always did, in the same field order, with the source range', async () => {
    const records = [
      reading('23/12/2006 16:52:00', 240, 'b'),
      reading('23/12/2006 18:00:00', '230', 'a'),
      reading('23/12/2006 19:00:00', 250, 'b'),
      reading('24/12/2006 01:00:00', 220, 7),
      reading('24/12/2006 01:00:00', 'x', 7),
      reading('24/12/2006 01:00:00', 220),
      '{"datetime":',
    ].map((value, i) => ({ value, offset: 100 + i }));
    const { outputs, errors } = await runProcessor(aggregateProcessor({ groupBy: 'meter' }), records, { topic: 'power', partition: 3 });
    const source = { topic: 'power', partition: 3, from: '100', to: '106' };
    expect(outputs).toEqual([
      { key: '2006-12-23|a', value: { key: '2006-12-23|a', bucket: '2006-12-23', group: 'a', count: 1, sum: 230, min: 230, max: 230, mean: 230, firstOffset: '101', lastOffset: '101', source } },
      { key: '2006-12-23|b', value: { key: '2006-12-23|b', bucket: '2006-12-23', group: 'b', count: 2, sum: 490, min: 240, max: 250, mean: 245, firstOffset: '100', lastOffset: '102', source } },
      { key: '2006-12-24|7', value: { key: '2006-12-24|7', bucket: '2006-12-24', group: '7', count: 1, sum: 220, min: 220, max: 220, mean: 220, firstOffset: '103', lastOffset: '103', source } },
    ]);
    expect(Object.keys(outputs[0].value as object)).toEqual(['key', 'bucket', 'group', 'count', 'sum', 'min', 'max', 'mean', 'firstOffset', 'lastOffset', 'source']);
    // Its own rejections keep their codes: no processor-error prefix.
    expect(errors.map((e) => [e.offset, e.reason])).toEqual([
      [104, 'non-numeric-value: voltage="x"'],
      [105, 'missing-field: meter'],
      [106, expect.stringMatching(/^invalid-json: Unexpected end of JSON input/)],
    ]);
  });

  it('adds distinct after mean, merges halves consistently, and is what createAggregator runs', async () => {
    const next = mulberry32(5);
    const records = Array.from({ length: 3_000 }, (_, i) =>
      reading(`${String(16 + Math.floor(i / 1_000)).padStart(2, '0')}/12/2006 ${String(i % 24).padStart(2, '0')}:00:00`, 220 + next() * 30, `m${i % 7}`),
    );
    const spec = { bucket: 'hour' as const, metrics: ['mean' as const, 'count-distinct' as const], distinctField: 'meter' };
    const { outputs } = await runProcessor(aggregateProcessor(spec), records);
    const aggregator = createAggregator(spec);
    records.forEach((r, i) => aggregator.add(JSON.stringify(r), i));
    const rows = aggregator.results();
    expect(outputs.map((o) => o.key)).toEqual(rows.map((r) => r.key));
    expect(outputs.map((o) => (({ source: _source, ...row }) => row)(o.value as { source: unknown }))).toEqual(rows);
    expect(Object.keys(rows[0]).slice(-4)).toEqual(['mean', 'distinct', 'firstOffset', 'lastOffset']);
    expect(rows[0].distinct).toBe(7);
  });

  it('refuses an invalid spec when created', () => {
    expect(() => aggregateProcessor({ metrics: ['count-distinct'] })).toThrow(AggregationSpecError);
  });
});

describe('the engine on staged chunks', () => {
  it('reads the batch step’s chunks in place and reports the last offset folded into each key', async () => {
    const file = path.join(dir, 'staged');
    const writer = await createStagingWriter(file);
    const values = ['{"k":"a","n":1}', '{"k":"b","n":2}', null, '{"k":"a","n":3}', 'nope'];
    await writer.write(values.map((v, i) => ({ offset: BigInt(1_000 + i), value: v === null ? null : Buffer.from(v) })));
    await writer.close();

    const sum = defineReduce<{ k: string; n: number }, number>({ key: (r) => r.value.k, init: () => 0, add: (s, r) => s + r.value.n, merge: (a, b) => a + b, emit: (s) => s });
    const ctx: ProcessorContext = { topic: 't', partition: 0, from: '1000', to: '1004', pipeline: 'p', options: undefined };
    const outputs: EncodedOutput[] = [];
    const run = createProcessorRun(sum, ctx, (o) => outputs.push(o));
    const reasons: Array<string | null> = [];
    for await (const chunk of readStagingChunks(file)) for (let i = 0; i < chunk.length; i++) reasons.push(run.add(chunk, i));
    run.finish();

    expect(reasons.map((r) => r?.split(':')[0] ?? null)).toEqual([null, null, 'invalid-json', null, 'invalid-json']);
    expect(outputs.map((o) => [o.key, o.value.toString(), o.offset])).toEqual([
      ['a', '4', 1_003],
      ['b', '2', 1_001],
    ]);
    expect({ accepted: run.accepted, rejected: run.rejected, groups: run.groups }).toEqual({ accepted: 3, rejected: 2, groups: 2 });
  });
});

describe('asynchronous processor functions', () => {
  test('an add, transform or emit that returns a promise fails the run instead of committing `{}` or dead letters', async () => {
    const asyncAdd = defineReduce<number, number>({ key: () => 'k', init: () => 0, add: (async (s: number) => s + 1) as unknown as (s: number) => number, merge: (a, b) => a + b, emit: (s) => s });
    await expect(runProcessor(asyncAdd, [1, 2])).rejects.toThrow(/add\(\) returned a promise: processors run synchronously/);
    const asyncMap = defineMap({ transform: (async () => null) as unknown as () => null });
    await expect(runProcessor(asyncMap, [1])).rejects.toThrow(/transform\(\) returned a promise/);
    const asyncEmit = defineReduce<number, number>({ key: () => 'k', init: () => 0, add: (s) => s + 1, merge: (a, b) => a + b, emit: (async (s: number) => s) as unknown as (s: number) => number });
    await expect(runProcessor(asyncEmit, [1])).rejects.toThrow(/emit\(\) returned a promise/);
  });
});
