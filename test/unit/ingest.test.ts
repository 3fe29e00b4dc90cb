import { MockActivityEnvironment } from '@temporalio/testing';
import { createHttpSourceActivities } from '../../activities/http-source';
import { startRandomUserSource, randomUserPage, type RandomUserSource, type RandomUserSourceStats } from '../../src/devstack/random-user-source';
import { parseRandomUserResponse, shapeRandomUser, uuidV5 } from '../../src/ingest/random-user';
import type { KafkaIo } from '../../src/kafka';
import { createLogger } from '../../src/logger';
import { parsePipelines, PipelinesFileError } from '../../src/project/pipelines-file';
import { desiredSchedule } from '../../src/schedules';
import { ingestWithDefaults, type PollCounts } from '../../src/shared/ingest';

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

describe('pollHttpSource activity (fake Kafka)', () => {
  let source: RandomUserSource;
  beforeEach(async () => (source = await startRandomUserSource({ port: 0, seed: 'activity' })));
  afterEach(async () => source.close());

  function fakeKafka() {
    const produced: { topic: string; key: string; value: string }[] = [];
    const kafka = { admin: { ensureTopics: async () => undefined }, produce: async (records: typeof produced) => void produced.push(...records) } as unknown as KafkaIo;
    return { kafka, produced };
  }
  const logger = createLogger({ level: 'silent', pretty: false });

  async function poll(kafka: KafkaIo, query: string, windowMs: number, intervalMs = 50): Promise<PollCounts> {
    const { pollHttpSource } = createHttpSourceActivities({ kafka, logger });
    const input = { ...ingestWithDefaults({ url: `${source.url}${query}`, topic: 'users', intervalMs, windowMs, requestTimeoutMs: 1000 }), until: Date.now() + windowMs };
    return (await new MockActivityEnvironment().run(pollHttpSource, input)) as PollCounts;
  }

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
  });

  test('5xx answers are counted as errors and retried inside the window', async () => {
    await fetch(`${source.baseUrl}/fail`, { method: 'POST', body: JSON.stringify({ count: 2, status: 503 }) });
    const { kafka, produced } = fakeKafka();
    const counts = await poll(kafka, '?results=1', 1500);
    expect(counts.errors).toBe(2);
    expect(counts.produced).toBeGreaterThan(0);
    expect(produced).toHaveLength(counts.produced);
  });

  test('a refused connection is an error, not a crash', async () => {
    await source.close();
    source = await startRandomUserSource({ port: 0 });
    const { kafka } = fakeKafka();
    const { pollHttpSource } = createHttpSourceActivities({ kafka, logger });
    const input = { ...ingestWithDefaults({ url: 'http://127.0.0.1:1/api/', topic: 'users', intervalMs: 50, windowMs: 300 }), until: Date.now() + 300 };
    const counts = (await new MockActivityEnvironment().run(pollHttpSource, input)) as PollCounts;
    expect(counts).toMatchObject({ produced: 0, fetched: 0 });
    expect(counts.errors).toBeGreaterThanOrEqual(1);
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
