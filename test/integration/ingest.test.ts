import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUserPage, startRandomUserSource, type RandomUserSource, type RandomUserSourceStats } from '../../src/devstack/random-user-source';
import { shapeRandomUser, type ShapedUser } from '../../src/ingest/random-user';
import { loadPipelines } from '../../src/project/load';
import { ingestOptionsOf } from '../../src/project/pipelines-file';
import { createScheduleManager } from '../../src/temporal/schedules';
import { ingestWorkflowId, type IngestOptions, type IngestReport } from '../../src/shared/ingest';
import { KTO_PIPELINE, KTO_RECORDS, KTO_TOPIC } from '../../src/shared/search-attributes';
import { runWorker } from '../../src/worker';
import { expectedRecords as expectedReadings, type MeterOptions } from '../fixtures/ingest-source/sources/meter-readings';
import { readTopic } from '../support/kafka-check';
import { uniqueTopic } from '../support/helpers';
import { runKto } from '../support/run-cli';
import { testWorkflowBundle, useTestEnv } from '../support/test-env';

const env = useTestEnv('ingest');
let source: RandomUserSource;
const brokers = () => env.config.kafka.brokers;

beforeEach(async () => (source = await startRandomUserSource({ port: 0, seed: randomUUID() })));
afterEach(async () => source?.close());

const control = (what: 'fail' | 'garbage', body: object) => fetch(`${source.baseUrl}/${what}`, { method: 'POST', body: JSON.stringify(body) });
const stats = async () => (await (await fetch(`${source.baseUrl}/stats`)).json()) as RandomUserSourceStats;

async function runIngest(options: IngestOptions, taskQueue = env.config.temporal.taskQueue) {
  const handle = await env.client.workflow.start('ingest', { workflowId: `kto-ingest-test-${randomUUID()}`, taskQueue, args: [options] });
  const report = (await handle.result()) as IngestReport;
  return { report, handle };
}

/** What the source served in its well-formed pages, shaped: the records the topic must hold. */
async function expectedRecords(): Promise<Map<string, ShapedUser>> {
  const expected = new Map<string, ShapedUser>();
  for (const page of (await stats()).pages) {
    for (const user of randomUserPage(page.seed, page.page, page.results)) {
      const shaped = shapeRandomUser(JSON.parse(JSON.stringify(user)));
      if (!shaped.ok) throw new Error(shaped.reason);
      expected.set(shaped.record.id, shaped.record);
    }
  }
  return expected;
}

async function topicRecords(topic: string) {
  const records = await readTopic(brokers(), topic);
  for (const r of records) expect(JSON.parse(r.value!).id).toBe(r.key);
  return new Map(records.map((r) => [r.key!, JSON.parse(r.value!) as ShapedUser]));
}

describe('ingest workflow on the real stack', () => {
  test('a 3 s window polled every 500 ms writes the shaped records keyed by id, with search attributes', async () => {
    const topic = uniqueTopic('ingest');
    const { report, handle } = await runIngest({ url: `${source.url}?results=3`, topic, intervalMs: 500, windowMs: 3_000, pipeline: 'it-users' });
    expect(report).toMatchObject({ pipeline: 'it-users', topic, errors: 0, skipped: 0 });
    expect(report.polls).toBeGreaterThanOrEqual(4);
    expect(report.polls).toBeLessThanOrEqual(7);
    expect(report.fetched).toBe(report.polls * 3);
    expect(report.produced).toBe(report.fetched);
    const records = await topicRecords(topic);
    expect(records.size).toBe(report.produced);
    expect(records).toEqual(await expectedRecords());
    const attributes = (await handle.describe()).typedSearchAttributes;
    expect(attributes.get(KTO_PIPELINE)).toBe('it-users');
    expect(attributes.get(KTO_TOPIC)).toBe(topic);
    expect(attributes.get(KTO_RECORDS)).toBe(report.produced);
  });

  test('a source answering 503 twice then OK: the records still arrive and the errors are counted', async () => {
    await control('fail', { count: 2, status: 503 });
    const topic = uniqueTopic('ingest-503');
    const { report } = await runIngest({ url: `${source.url}?results=2`, topic, intervalMs: 300, windowMs: 5_000 });
    expect(report.errors).toBe(2);
    expect(report.produced).toBeGreaterThan(0);
    expect(await stats()).toMatchObject({ failed: 2 });
    const records = await topicRecords(topic);
    expect(records.size).toBe(report.produced);
    expect(records).toEqual(await expectedRecords());
  });

  test('garbage responses are counted as skipped and produce nothing', async () => {
    await control('garbage', { count: 2 });
    const topic = uniqueTopic('ingest-garbage');
    const { report } = await runIngest({ url: `${source.url}?results=2`, topic, intervalMs: 300, windowMs: 2_000 });
    expect(report).toMatchObject({ skipped: 2, errors: 0 });
    expect(report.produced).toBe((report.polls - 2) * 2);
    const records = await topicRecords(topic);
    expect(records).toEqual(await expectedRecords());
  });
});

describe('ingest from a project\'s own source module on the real stack', () => {
  const fixture = path.join(__dirname, '../fixtures/ingest-source');
  const project = loadPipelines({ KTO_CONFIG: path.join(fixture, 'kto.config.ts') }, fixture);
  // A worker of its own, loaded with the project as `kto worker` loads it: only it knows the project's sources.
  const taskQueue = uniqueTopic('ingest-source');
  let stopWorker: () => void = () => undefined;
  let worker: Promise<void>;
  beforeAll(() => {
    const config = { ...env.config, temporal: { ...env.config.temporal, taskQueue } };
    worker = runWorker({ config, logger: env.logger, project, workflowBundle: testWorkflowBundle(), stopSignal: new Promise<void>((resolve) => (stopWorker = resolve)) });
  });
  afterAll(async () => {
    stopWorker();
    await worker;
  });

  test('the module\'s records are polled into the topic with its keys; the failed poll and the readings without a meter are counted', async () => {
    const topic = uniqueTopic('ingest-meters');
    const options = { ...ingestOptionsOf(project.ingest[0]), topic };
    expect(options).toMatchObject({ pipeline: 'meter-readings', source: 'meter-readings', sourceOptions: { meters: 3, failOnPoll: 2 } });
    const { report } = await runIngest(options, taskQueue);
    const { meters, failOnPoll } = options.sourceOptions as unknown as MeterOptions;
    const answered = Array.from({ length: report.polls }, (_, i) => i + 1).filter((poll) => poll !== failOnPoll);
    expect(report).toMatchObject({ pipeline: 'meter-readings', source: 'meter-readings', topic, errors: 1 });
    expect(report.polls).toBeGreaterThanOrEqual(3);
    expect(report).toMatchObject({ fetched: answered.length * (meters + 1), skipped: answered.length, produced: answered.length * meters });

    const records = await readTopic(brokers(), topic);
    const expected = new Map(answered.flatMap((poll) => expectedReadings(poll, meters)));
    expect(records).toHaveLength(expected.size);
    expect(new Map(records.map((r) => [r.key, JSON.parse(r.value!) as unknown]))).toEqual(expected);
    for (const r of records) expect(r.headers['kto-pipeline']).toBe('meter-readings');
  });
});

describe('ingest from the CLI and the pipelines file', () => {
  const name = `ingest-${randomUUID().slice(0, 8)}`;
  afterAll(async () => {
    await createScheduleManager({ client: env.client, taskQueue: env.config.temporal.taskQueue }).delete(`kto-ingest-${name}`).catch(() => undefined);
  });

  test('kto schedule apply creates a paused every-minute schedule for a disabled ingest pipeline; kto ingest run prints the report', async () => {
    const topic = uniqueTopic('ingest-cli');
    const file = path.join(os.tmpdir(), `kto-pipelines-${name}.yaml`);
    writeFileSync(file, `ingest:\n  - name: ${name}\n    url: "${source.url}?results=2"\n    topic: ${topic}\n    intervalMs: 200\n    windowMs: 1000\n    schedule: {}\n`);
    const cliEnv = { KTO_PIPELINES_FILE: file, KTO_TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue };
    const applied = await runKto(['schedule', 'apply', '--json'], cliEnv);
    expect(applied).toMatchObject({ code: 0 });
    const results = (JSON.parse(applied.stdout) as { results: { scheduleId: string; outcome: string }[] }).results;
    expect(results).toContainEqual({ scheduleId: `kto-ingest-${name}`, pipeline: name, outcome: 'created' });

    const schedules = createScheduleManager({ client: env.client, taskQueue: env.config.temporal.taskQueue });
    const d = (await schedules.describe(name))!;
    expect(d.scheduleId).toBe(`kto-ingest-${name}`);
    expect(d.state.paused).toBe(true);
    expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'ingest', taskQueue: env.config.temporal.taskQueue, args: [{ pipeline: name, topic, intervalMs: 200, windowMs: 1000 }] });
    const row = (await schedules.list()).find((r) => r.scheduleId === `kto-ingest-${name}`);
    expect(row).toMatchObject({ cron: '* * * * *', paused: true, pipeline: name });
    expect((await runKto(['schedule', 'apply', '--json'], cliEnv)).stdout).toContain(`"scheduleId":"kto-ingest-${name}","pipeline":"${name}","outcome":"unchanged"`);

    const run = await runKto(['ingest', 'run', name, '--json'], cliEnv);
    expect(run).toMatchObject({ code: 0 });
    const report = JSON.parse(run.stdout) as IngestReport;
    expect(report).toMatchObject({ pipeline: name, topic, errors: 0, skipped: 0 });
    expect(report.produced).toBeGreaterThan(0);
    expect((await topicRecords(topic)).size).toBe(report.produced);

    const unknown = await runKto(['ingest', 'run', 'no-such-pipeline'], cliEnv);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no ingest pipeline named "no-such-pipeline"[\s\S]*fix: use one of: /);
  });
});

/**
 * A history as text with every payload decoded: what Temporal stores and its UI shows, searchable
 * for a string. (Its own JSON holds payloads in base64, where a password would not be found.)
 */
function historyText(history: object): string {
  const decode = (v: unknown): unknown => {
    // ArrayBuffer.isView, not instanceof: the client's bytes come from another realm than jest's.
    if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
    if (Array.isArray(v)) return v.map(decode);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
    return v;
  };
  return JSON.stringify(decode(history));
}

describe("ingest with credentials from the worker's environment", () => {
  const password = `pw-${randomUUID()}`;
  const variable = `KTO_IT_USERS_API_CREDENTIALS_${randomUUID().slice(0, 8).toUpperCase()}`;
  let authSource: RandomUserSource;
  beforeAll(async () => {
    // The worker of this file runs in this process: this is its environment.
    process.env[variable] = `reader:${password}`;
    authSource = await startRandomUserSource({ port: 0, seed: randomUUID(), basicAuth: `reader:${password}` });
  });
  afterAll(async () => {
    delete process.env[variable];
    await authSource?.close();
  });

  test('kto ingest run --credentials-env polls a source that requires Basic authentication; the password is in no output and nowhere in the workflow history', async () => {
    const topic = uniqueTopic('ingest-auth');
    const name = `ingest-auth-${randomUUID().slice(0, 8)}`;
    const url = `${authSource.url}?results=2`;
    const run = await runKto(['ingest', 'run', name, '--url', url, '--topic', topic, '--credentials-env', variable, '--interval-ms', '200', '--window-ms', '1500'], {
      KTO_TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue,
    });
    expect(run).toMatchObject({ code: 0 });
    expect(run.stdout).toContain(`ingest ${name}: polling ${url} with the credentials in the worker's ${variable} every 200 ms`);

    const handle = env.client.workflow.getHandle(ingestWorkflowId(name));
    const report = (await handle.result()) as IngestReport;
    expect(report).toMatchObject({ pipeline: name, url, topic, errors: 0, skipped: 0 });
    expect(report.produced).toBeGreaterThan(0);
    const served = (await (await fetch(`${authSource.baseUrl}/stats`)).json()) as RandomUserSourceStats;
    expect(served).toMatchObject({ unauthorized: 0, ok: report.polls });
    expect((await readTopic(brokers(), topic)).length).toBe(report.produced);

    const history = historyText(await handle.fetchHistory());
    // The variable's name travels (the input, the activity's input); its value does not.
    expect(history).toContain(variable);
    expect(history).toContain(url);
    const basic = Buffer.from(`reader:${password}`).toString('base64');
    for (const text of [history, run.stdout, run.stderr]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(basic);
    }
  });
});
