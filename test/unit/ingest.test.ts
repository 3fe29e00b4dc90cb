import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { withFailures } from '../../activities/failures';
import { createIngestSourceActivities } from '../../activities/ingest-source';
import { startRandomUserSource, randomUserPage, type RandomUserSource, type RandomUserSourceStats } from '../../src/devstack/random-user-source';
import { defineSource, resolveSourceExport } from '../../src/ingest/define';
import { loadSource } from '../../src/ingest/load';
import { parseRandomUserResponse, RANDOM_USER_SOURCE, randomUserSource, shapeRandomUser, uuidV5 } from '../../src/ingest/random-user';
import type { KafkaIo } from '../../src/kafka';
import { createLogger } from '../../src/runtime/logger';
import { ingestOptionsOf, parsePipelines, PipelinesFileError } from '../../src/project/pipelines-file';
import { desiredSchedule } from '../../src/temporal/schedules';
import { ingestWithDefaults, type IngestOptions, type PollCounts } from '../../src/shared/ingest';
import { expectedRecords } from '../fixtures/ingest-source/sources/meter-readings';

/** One result of https://randomuser.me/api/ as the seed's DAG received it. */
const FIXTURE = {
  gender: 'female',
  name: { title: 'Ms', first: 'Leah', last: 'Moulin' },
  location: {
    street: { number: 7393, name: 'Rue du Bât-D\'Argent' },
    city: 'Saint-Étienne',
    state: 'Haute-Vienne',
    country: 'France',
    postcode: 86245,
    coordinates: { latitude: '-54.5516', longitude: '-47.6389' },
    timezone: { offset: '+3:00', description: 'Baghdad, Riyadh, Moscow, St. Petersburg' },
  },
  email: 'leah.moulin@example.com',
  login: { uuid: '3a9c5e4f-94d7-4d0c-b0bd-7e8b1b1b2c1e', username: 'purplepanda593', password: 'chan', salt: 'x', md5: 'y', sha1: 'z', sha256: 'w' },
  dob: { date: '1971-03-28T09:31:52.338Z', age: 53 },
  registered: { date: '2010-07-01T14:36:24.109Z', age: 14 },
  phone: '01-71-40-87-07',
  cell: '06-54-31-22-48',
  id: { name: 'INSEE', value: '2710229152178 33' },
  picture: { large: 'https://randomuser.me/api/portraits/women/4.jpg', medium: 'https://randomuser.me/api/portraits/med/women/4.jpg', thumbnail: 'x' },
  nat: 'FR',
};

describe('shaping random-user records like the seed DAG', () => {
  test('every field of format_data, with a stable id derived from login.uuid', () => {
    const shaped = shapeRandomUser(FIXTURE);
    expect(shaped).toEqual({
      ok: true,
      record: {
        id: uuidV5('login.uuid:3a9c5e4f-94d7-4d0c-b0bd-7e8b1b1b2c1e'),
        first_name: 'Leah',
        last_name: 'Moulin',
        gender: 'female',
        address: '7393 Rue du Bât-D\'Argent, Saint-Étienne, Haute-Vienne, France',
        post_code: '86245',
        email: 'leah.moulin@example.com',
        username: 'purplepanda593',
        dob: '1971-03-28T09:31:52.338Z',
        registered_date: '2010-07-01T14:36:24.109Z',
        phone: '01-71-40-87-07',
        picture: 'https://randomuser.me/api/portraits/med/women/4.jpg',
      },
    });
    const id = shaped.ok ? shaped.record.id : '';
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Same source record → same key; another user → another key.
    expect(shapeRandomUser(structuredClone(FIXTURE))).toEqual(shaped);
    const other = shapeRandomUser({ ...FIXTURE, login: { ...FIXTURE.login, uuid: 'another' } });
    expect(other.ok && other.record.id).not.toBe(id);
  });

  test('uuidV5 matches the RFC 4122 reference vector', () => {
    // Python: uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org')
    expect(uuidV5('python.org', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
  });

  test('without login.uuid the id derives from the content, so it is still stable', () => {
    const noUuid = { ...FIXTURE, login: { username: 'purplepanda593' } };
    const a = shapeRandomUser(noUuid);
    const b = shapeRandomUser(structuredClone(noUuid));
    expect(a.ok && b.ok && a.record.id === b.record.id).toBe(true);
    expect(a.ok && a.record.id).not.toBe(shapeRandomUser(FIXTURE).ok && (shapeRandomUser(FIXTURE) as { record: { id: string } }).record.id);
  });

  test('a record missing a field is malformed, naming the field', () => {
    const { name: _name, ...noName } = FIXTURE;
    expect(shapeRandomUser(noName)).toEqual({ ok: false, reason: expect.stringMatching(/^name: /) });
    expect(shapeRandomUser({ ...FIXTURE, location: { ...FIXTURE.location, city: 3 } })).toEqual({ ok: false, reason: expect.stringMatching(/^location\.city: /) });
    expect(shapeRandomUser(null)).toMatchObject({ ok: false });
  });

  test('a response that is not JSON or has no results list is malformed', () => {
    expect(parseRandomUserResponse('<html>oops</html>')).toEqual({ ok: false, reason: expect.stringMatching(/^not JSON/) });
    expect(parseRandomUserResponse('{"error":"Uh oh"}')).toEqual({ ok: false, reason: 'no "results" list in the response' });
    expect(parseRandomUserResponse(JSON.stringify({ results: [FIXTURE] }))).toEqual({ ok: true, results: [FIXTURE] });
  });
});

describe('local random-user source', () => {
  let source: RandomUserSource;
  beforeEach(async () => (source = await startRandomUserSource({ port: 0, seed: 'unit' })));
  afterEach(async () => source.close());
  const get = async (query: string) => fetch(`${source.url}${query}`);
  type Page = { results: unknown[] };
  const page = async (query: string) => (await (await get(query)).json()) as Page;
  const stats = async () => (await (await fetch(`${source.baseUrl}/stats`)).json()) as RandomUserSourceStats;
  const control = (what: string, body: object) => fetch(`${source.baseUrl}/${what}`, { method: 'POST', body: JSON.stringify(body) });

  test('is deterministic: the same seed and page give the same users, every user shapes', async () => {
    const a = await page('?results=3&seed=abc');
    const b = await page('?results=3&seed=abc&page=1');
    expect(a.results).toEqual(b.results);
    expect(a.results).toEqual(JSON.parse(JSON.stringify(randomUserPage('abc', 1, 3))));
    expect((await page('?results=3&seed=abd')).results).not.toEqual(a.results);
    for (const u of a.results) expect(shapeRandomUser(u).ok).toBe(true);
    // Without a seed: successive pages of the server's seed, new users each time.
    const p1 = (await page('?results=2')).results;
    const p2 = (await page('?results=2')).results;
    expect(p1).toEqual(JSON.parse(JSON.stringify(randomUserPage('unit', 1, 2))));
    expect(p2).toEqual(JSON.parse(JSON.stringify(randomUserPage('unit', 2, 2))));
    expect(await stats()).toMatchObject({ requests: 5, ok: 5, users: 13 });
  });

  test('fails and answers garbage on request', async () => {
    await control('fail', { count: 2, status: 503 });
    expect((await get('?results=1')).status).toBe(503);
    expect((await get('?results=1')).status).toBe(503);
    expect((await get('?results=1')).status).toBe(200);
    await control('garbage', { count: 1 });
    expect(parseRandomUserResponse(await (await get('?results=1')).text())).toMatchObject({ ok: false });
    await control('garbage', { count: 1, kind: 'fields' });
    const body = parseRandomUserResponse(await (await get('?results=1')).text());
    expect(body.ok && shapeRandomUser(body.results[0]).ok).toBe(false);
    expect(await stats()).toMatchObject({ requests: 5, ok: 1, failed: 2, garbage: 2, users: 1 });
  });
});

/** Kafka at the boundary: topics exist, produced records are kept. */
function fakeKafka() {
  const produced: { topic: string; key: string | null; value: string; headers: Record<string, string> }[] = [];
  const kafka = { admin: { ensureTopics: async () => undefined }, produce: async (records: typeof produced) => void produced.push(...records) } as unknown as KafkaIo;
  return { kafka, produced };
}
const logger = createLogger({ level: 'silent', pretty: false });

/** Runs one ingest window of `options` through the activity, with the project's sources by pipeline name. */
async function pollWindow(kafka: KafkaIo, options: IngestOptions, sources: Record<string, string> = {}): Promise<PollCounts> {
  // As the worker registers it: kto's errors become Temporal failures.
  const { pollSource } = withFailures(createIngestSourceActivities({ kafka, logger, sources }));
  const input = ingestWithDefaults(options);
  return (await new MockActivityEnvironment().run(pollSource, { ...input, until: Date.now() + input.windowMs })) as PollCounts;
}

describe('pollSource activity with the url form: the built-in random-user source (fake Kafka)', () => {
  let source: RandomUserSource;
  beforeEach(async () => (source = await startRandomUserSource({ port: 0, seed: 'activity' })));
  afterEach(async () => source.close());

  const poll = (kafka: KafkaIo, query: string, windowMs: number, intervalMs = 50) =>
    pollWindow(kafka, { url: `${source.url}${query}`, topic: 'users', intervalMs, windowMs, requestTimeoutMs: 1000 });

  test('malformed responses and records are counted and skipped; good ones are produced keyed by id', async () => {
    await fetch(`${source.baseUrl}/garbage`, { method: 'POST', body: JSON.stringify({ count: 1 }) });
    const { kafka, produced } = fakeKafka();
    const counts = await poll(kafka, '?results=2', 400);
    expect(counts.skipped).toBe(1);
    expect(counts.errors).toBe(0);
    expect(counts.produced).toBe(produced.length);
    expect(counts.fetched).toBe(counts.produced);
    expect(counts.polls).toBeGreaterThanOrEqual(3);
    expect(produced.length).toBe((counts.polls - 1) * 2);
    for (const r of produced) expect(JSON.parse(r.value).id).toBe(r.key);
    for (const r of produced) expect(r.headers).toEqual({ 'kto-pipeline': 'ingest.users' });

    // A page holding a user without a name: that user is skipped, the others are written.
    await fetch(`${source.baseUrl}/garbage`, { method: 'POST', body: JSON.stringify({ count: 1, kind: 'fields' }) });
    const second = fakeKafka();
    const fields = await poll(second.kafka, '?results=2', 400);
    expect(fields).toMatchObject({ skipped: 1, errors: 0, fetched: fields.produced + 1 });
    expect(second.produced.length).toBe((fields.polls - 1) * 2);
  });

  test('5xx answers are counted as errors and retried inside the window', async () => {
    await fetch(`${source.baseUrl}/fail`, { method: 'POST', body: JSON.stringify({ count: 2, status: 503 }) });
    const { kafka, produced } = fakeKafka();
    const counts = await poll(kafka, '?results=1', 1500);
    expect(counts.errors).toBe(2);
    expect(counts.produced).toBeGreaterThan(0);
    expect(produced).toHaveLength(counts.produced);
  });

  test('a 4xx fails the run at once, without retries', async () => {
    await fetch(`${source.baseUrl}/fail`, { method: 'POST', body: JSON.stringify({ count: 1, status: 404 }) });
    const { kafka, produced } = fakeKafka();
    const failure = await poll(kafka, '?results=1', 1000).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'SourceRejected', nonRetryable: true, message: expect.stringMatching(/answered HTTP 404: .*Fix: correct the pipeline's url/) });
    expect(produced).toEqual([]);
  });

  test('a refused connection is an error, not a crash', async () => {
    const { kafka } = fakeKafka();
    const counts = await pollWindow(kafka, { url: 'http://127.0.0.1:1/api/', topic: 'users', intervalMs: 50, windowMs: 300 });
    expect(counts).toMatchObject({ produced: 0, fetched: 0 });
    expect(counts.errors).toBeGreaterThanOrEqual(1);
  });

  test('the url form and a pipeline naming the built-in source module with sourceOptions write the same records', async () => {
    const url = `${source.url}?results=3&seed=same`;
    const viaUrl = fakeKafka();
    const viaModule = fakeKafka();
    await pollWindow(viaUrl.kafka, { url, topic: 'users', pipeline: 'users', intervalMs: 50, windowMs: 200 });
    await pollWindow(viaModule.kafka, { source: 'users', sourceOptions: { url }, topic: 'users', pipeline: 'users', intervalMs: 50, windowMs: 200 }, { users: RANDOM_USER_SOURCE });
    const distinct = (records: { key: string | null; value: string }[]) => new Map(records.map((r) => [r.key, r.value]));
    expect(distinct(viaModule.produced).size).toBe(3);
    expect(distinct(viaModule.produced)).toEqual(distinct(viaUrl.produced));
  });
});

describe('defineSource', () => {
  test('needs fetch and key; shape defaults to the record itself', async () => {
    expect(() => defineSource({ fetch: () => [] } as never)).toThrow('missing or not a function: key');
    expect(() => defineSource({ key: () => null } as never)).toThrow('missing or not a function: fetch');
    expect(() => defineSource({ fetch: () => [], key: () => null, shape: 'no' } as never)).toThrow('shape must be a function');
    const source = defineSource<{ id: string }>({ fetch: () => [{ id: 'a' }], key: (r) => r.id });
    expect(source.kind).toBe('source');
    expect(Object.isFrozen(source)).toBe(true);
    const ctx = { pipeline: 'p', topic: 't', options: undefined, signal: new AbortController().signal, poll: 1 };
    const [record] = await source.fetch(ctx);
    expect(source.shape(record, ctx)).toBe(record);
  });

  test('a module exports it as default, as module.exports, or through import() of CommonJS; anything else is refused with the fix', () => {
    const source = defineSource({ fetch: () => [], key: () => null });
    expect(resolveSourceExport({ default: source }).kind).toBe('source');
    expect(resolveSourceExport(source).kind).toBe('source');
    expect(resolveSourceExport({ default: { default: source } }).kind).toBe('source');
    expect(() => resolveSourceExport({ fetch: () => [], key: () => null })).toThrow(/exports an object with keys fetch, key, which is not a source\. Fix: `export default defineSource/);
    expect(() => resolveSourceExport({ default: undefined })).toThrow(/exports nothing \(undefined/);
  });

  test('the built-in random-user source is one: its module exports it by default', () => {
    expect(loadSource(RANDOM_USER_SOURCE)).toMatchObject({ kind: 'source', fetch: randomUserSource.fetch, key: randomUserSource.key });
  });
});

describe('pollSource activity with a project\'s source module (fake Kafka)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-sources-'));
  const DEFINE = require.resolve('../../src/ingest/define');
  const FIXTURE = path.join(__dirname, '../fixtures/ingest-source/sources/meter-readings.ts');

  /** A source module the way a project writes one, from the text of its defineSource argument. */
  function sourceModule(definition: string): string {
    const file = path.join(dir, `source-${randomUUID()}.js`);
    writeFileSync(file, `const { defineSource, MalformedResponseError, SourceRejectedError } = require(${JSON.stringify(DEFINE)});\nmodule.exports = defineSource(${definition});\n`);
    return file;
  }
  const run = (sources: Record<string, string>, options: Partial<IngestOptions> = {}) => {
    const { kafka, produced } = fakeKafka();
    const counts = pollWindow(kafka, { source: 'p', pipeline: 'p', topic: 'out', intervalMs: 50, windowMs: 400, ...options }, sources);
    return { counts, produced };
  };

  test('each poll\'s records are written with the source\'s keys and shaped values; a record whose key or value fails is skipped', async () => {
    const { counts, produced } = run({ p: FIXTURE }, { sourceOptions: { meters: 2 } });
    const c = await counts;
    expect(c).toMatchObject({ errors: 0, skipped: c.polls, fetched: c.polls * 3, produced: c.polls * 2 });
    const expected = Array.from({ length: c.polls }, (_, i) => expectedRecords(i + 1, 2)).flat();
    expect(produced.map((r) => [r.key, JSON.parse(r.value)])).toEqual(expected);
    expect(produced.every((r) => r.topic === 'out' && r.headers['kto-pipeline'] === 'p')).toBe(true);
  });

  test('the source gets the pipeline, the topic, its options and the poll number; keys may be null; bad keys and values are skipped', async () => {
    const file = sourceModule(`{
      fetch: (ctx) => [{ ctx: { pipeline: ctx.pipeline, topic: ctx.topic, options: ctx.options, poll: ctx.poll } }, { key: null }, { key: 7 }, { key: 'big', value: 1n }, { key: 'undefined', value: undefined }],
      shape: (r) => ('value' in r ? r.value : r),
      key: (r, ctx) => (r && r.ctx ? 'ctx-' + ctx.poll : r === undefined ? 'u' : r && 'key' in r ? r.key : null),
    }`);
    const { counts, produced } = run({ p: file }, { sourceOptions: { region: 'eu' }, windowMs: 250, intervalMs: 100 });
    const c = await counts;
    const polls = Array.from({ length: c.polls }, (_, i) => i + 1);
    expect(produced.map((r) => [r.key, JSON.parse(r.value)])).toEqual(
      polls.flatMap((poll) => [
        [`ctx-${poll}`, { ctx: { pipeline: 'p', topic: 'out', options: { region: 'eu' }, poll } }],
        [null, { key: null }],
      ]),
    );
    // Per poll: a key that is a number, a bigint value, an undefined value.
    expect(c).toMatchObject({ fetched: 5 * c.polls, produced: 2 * c.polls, skipped: 3 * c.polls, errors: 0 });
  });

  test('a throwing or hanging fetch is a failed poll: counted, then retried with backoff inside the window', async () => {
    const file = sourceModule(`{
      fetch: async ({ poll }) => {
        if (poll === 1) throw new Error('gateway down');
        if (poll === 2) return new Promise(() => undefined);
        return [{ id: 'r' + poll }];
      },
      key: (r) => r.id,
    }`);
    const { counts, produced } = run({ p: file }, { requestTimeoutMs: 100, windowMs: 1500, intervalMs: 20 });
    const c = await counts;
    expect(c.errors).toBe(2);
    expect(c.produced).toBeGreaterThan(0);
    expect(produced[0].key).toBe('r3');
  });

  test('a malformed response is skipped and the next poll comes on time; fetch returning no array is one too', async () => {
    const file = sourceModule(`{
      fetch: ({ poll }) => { if (poll === 1) throw new MalformedResponseError('no list'); return poll === 2 ? { not: 'a list' } : [{ id: 'r' + poll }]; },
      key: (r) => r.id,
    }`);
    const { counts } = run({ p: file }, { windowMs: 300 });
    const c = await counts;
    expect(c).toMatchObject({ skipped: 2, errors: 0 });
    expect(c.produced).toBe(c.polls - 2);
  });

  test('SourceRejectedError fails the run at once with its message', async () => {
    const file = sourceModule(`{ fetch: () => { throw new SourceRejectedError('GET /orders answered 401. Fix: set ORDERS_TOKEN'); }, key: () => null }`);
    await expect(run({ p: file }).counts).rejects.toMatchObject({ type: 'SourceRejected', nonRetryable: true, message: 'GET /orders answered 401. Fix: set ORDERS_TOKEN' });
  });

  test('a pipeline this worker has no source for, or a module that exports no source, fails without retries', async () => {
    await expect(run({}).counts).rejects.toMatchObject({ type: 'SourceNotFound', nonRetryable: true, message: expect.stringContaining('no source for pipeline "p". Fix: start the worker in the project folder') });
    const plain = path.join(dir, 'plain.js');
    writeFileSync(plain, 'module.exports = { fetch: () => [], key: () => null };\n');
    await expect(run({ p: plain }).counts).rejects.toMatchObject({ type: 'InvalidSource', nonRetryable: true, message: expect.stringMatching(/plain\.js: the source module exports .* Fix: `export default defineSource/) });
  });
});

describe('ingest pipelines in the pipelines file', () => {
  test('defaults, and a schedule every minute that is paused unless enabled', () => {
    const file = parsePipelines({ ingest: [{ name: 'users', url: 'http://127.0.0.1:8099/api/?results=5', topic: 'users', schedule: {} }] });
    const p = file.ingest[0];
    expect(p.schedule).toMatchObject({ cron: '* * * * *', enabled: false, overlap: 'skip', catchup: false });
    const s = desiredSchedule(p, 'kto');
    expect(s.scheduleId).toBe('kto-ingest-users');
    expect(s.state?.paused).toBe(true);
    expect(s.spec.cronExpressions).toEqual(['* * * * *']);
    expect(s.action).toMatchObject({ workflowType: 'ingest', args: [{ pipeline: 'users', url: 'http://127.0.0.1:8099/api/?results=5', topic: 'users' }] });
  });

  test('a source module instead of a url: the workflow input names it by pipeline and carries its options', () => {
    const file = parsePipelines({ ingest: [{ name: 'orders', source: './sources/orders.ts', sourceOptions: { url: 'https://shop.example.com' }, topic: 'orders', schedule: {} }] });
    expect(ingestOptionsOf(file.ingest[0])).toEqual({ pipeline: 'orders', source: 'orders', sourceOptions: { url: 'https://shop.example.com' }, topic: 'orders' });
    expect(desiredSchedule(file.ingest[0], 'kto').action).toMatchObject({ workflowType: 'ingest', workflowId: 'kto-ingest-orders', args: [{ pipeline: 'orders', source: 'orders' }] });
  });

  test('a pipeline has exactly one of source and url; sourceOptions go with source', () => {
    const problems = (ingest: object) => {
      try {
        parsePipelines({ ingest: [ingest] });
      } catch (err) {
        return (err as PipelinesFileError).problems.join('\n');
      }
      throw new Error('expected a rejection');
    };
    expect(problems({ name: 'a', topic: 't' })).toMatch(/ingest\[0\] \(a\)\.source: an ingest pipeline needs a source: "source" .* or "url"/);
    expect(problems({ name: 'a', topic: 't', source: './s.ts', url: 'http://x/' })).toMatch(/ingest\[0\] \(a\)\.url: source and url exclude each other/);
    expect(problems({ name: 'a', topic: 't', url: 'http://x/', sourceOptions: {} })).toMatch(/ingest\[0\] \(a\)\.sourceOptions: sourceOptions go with source/);
  });

  test('a bad url and a name used by a batch pipeline are reported with the fix', () => {
    const batch = [{ name: 'users', topic: 'a', outputTopic: 'b', groupId: 'g' }];
    expect(() => parsePipelines({ batch, ingest: [{ name: 'users', url: 'ftp://x', topic: 'users' }] })).toThrow(PipelinesFileError);
    try {
      parsePipelines({ batch, ingest: [{ name: 'users', url: 'ftp://x', topic: 'users' }] });
    } catch (err) {
      const problems = (err as PipelinesFileError).problems.join('\n');
      expect(problems).toMatch(/ingest\[0\] \(users\)\.url: url must be an http\(s\) URL/);
      expect(problems).toMatch(/ingest\[0\] \(users\)\.name: name "users" is used twice/);
    }
  });
});
