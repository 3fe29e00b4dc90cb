import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { commandWorkflowId } from '../../src/commands/registry';
import { loadPipelines, type LoadedPipelines } from '../../src/project/load';
import { batchOptionsOf } from '../../src/project/pipelines-file';
import { batchWorkflowId, type BatchPipelineOptions, type BatchReport } from '../../src/shared/batch';
import { runWorker } from '../../src/worker';
import { startBatch } from '../support/batch-harness';
import { countWorkflows, dispatcherConfig, sendCommands, startDispatcher } from '../support/dispatcher-harness';
import { uniqueTopic, waitFor } from '../support/helpers';
import { readTopic, type TopicRecord } from '../support/kafka-check';
import { useTestEnv } from '../support/test-env';

/**
 * A project of its own on the real stack (test/fixtures/user-project): its kto.config.ts
 * declares a reduce pipeline (p95 latency per service per hour), a map pipeline (server errors
 * re-keyed by path), a pipeline that runs after the first, a command with its own workflow and
 * activity, and a workflow that runs a batch and then starts the command. A worker loads all of
 * it from there (and bundles the project's workflows with kto's); outputs are checked against
 * independent computations over the input.
 */
const env = useTestEnv('user-pipelines', { worker: false });
const PARTITIONS = 3;
const prefix = uniqueTopic('project');
let project: LoadedPipelines;

interface Hit {
  service: string;
  at: string;
  latencyMs: number | string;
  path?: string;
  status: number;
}

/** Deterministic access-log records; every 97th has a latency that is not a number, every 89th has no path. */
function accessLog(count: number): Hit[] {
  return Array.from({ length: count }, (_, i) => ({
    service: ['api', 'web', 'auth'][Math.floor(i / 3) % 3],
    at: `2026-11-2${i % 2}T${String((i * 7) % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00Z`,
    latencyMs: i % 97 === 96 ? 'slow' : (i * 37) % 1_000,
    ...(i % 89 === 88 ? {} : { path: `/Items/${i % 5}` }),
    status: i % 11 === 0 ? 500 + (i % 4) : 200,
  }));
}

function pipeline(name: string): BatchPipelineOptions & { errorTopic: string } {
  const options = batchOptionsOf(project.batch.find((p) => p.name === name)!);
  return { ...options, errorTopic: options.errorTopic ?? `${options.topic}.errors` };
}

const valueOf = (r: TopicRecord) => JSON.parse(r.value!) as Record<string, unknown>;

describe('a project\'s own processors on the real stack', () => {
  let stopWorker: () => void = () => undefined;
  let worker: Promise<void>;
  const topic = `${prefix}.access-log`;
  const hits = accessLog(3_000);
  const produceHits = (list: Hit[]) => env.kafka.produce(list.map((hit, i) => ({ topic, partition: i % PARTITIONS, key: null, value: JSON.stringify(hit) })));

  beforeAll(async () => {
    process.env.KTO_FIXTURE_PREFIX = prefix;
    project = loadPipelines({ KTO_CONFIG: path.join(__dirname, '../fixtures/user-project/kto.config.ts') }, __dirname);
    // No prebuilt bundle: the worker bundles the project's workflows with kto's, as `kto worker` does.
    worker = runWorker({ config: env.config, logger: env.logger, project, stopSignal: new Promise<void>((resolve) => (stopWorker = resolve)) });
    await env.kafka.admin.ensureTopics(['access-log', 'latency-p95', 'server-errors', 'slowest-hour'].map((n) => ({ topic: `${prefix}.${n}`, partitions: PARTITIONS })));
    await produceHits(hits);
  }, 180_000);
  afterAll(async () => {
    stopWorker();
    await worker;
  });

  test('reduce: p95 per service per hour equals an independent computation; records it rejects are dead letters with the reason', async () => {
    const options = pipeline('latency-p95');
    const report: BatchReport = await (await startBatch(env.client, env.config, options, `p95-${randomUUID()}`)).result();
    const bad = hits.filter((h) => typeof h.latencyMs !== 'number').length;
    expect(report.recordsIn).toBe(hits.length);
    expect(report.malformed).toBe(bad);

    const input = await readTopic(env.config.kafka.brokers, topic);
    const expected = new Map<string, number[]>();
    for (const r of input) {
      const hit = valueOf(r) as unknown as Hit;
      if (typeof hit.latencyMs !== 'number') continue;
      const key = `${r.partition}/${hit.service}|${hit.at.slice(0, 13)}`;
      expected.set(key, [...(expected.get(key) ?? []), hit.latencyMs]);
    }
    const output = await readTopic(env.config.kafka.brokers, options.outputTopic);
    const actual = new Map(output.map((r) => [`${r.partition}/${r.key}`, valueOf(r)]));
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, latencies] of expected) {
      const sorted = [...latencies].sort((a, b) => a - b);
      expect(actual.get(key)).toMatchObject({ count: latencies.length, p95: sorted[Math.ceil(0.95 * sorted.length) - 1] });
    }
    for (const r of output) expect(r.headers['kto-source-partition']).toBe(String(r.partition));

    const errors = await readTopic(env.config.kafka.brokers, options.errorTopic!);
    expect(errors.map((e) => e.headers['kto-error-reason'])).toEqual(Array(bad).fill('bad-latency: "slow"'));
    const badOffsets = input.filter((r) => typeof (valueOf(r) as unknown as Hit).latencyMs !== 'number').map((r) => `${r.partition}/${r.offset}`);
    expect(errors.map((e) => `${e.partition}/${e.headers['kto-source-offset']}`).sort()).toEqual(badOffsets.sort());

    // `slowest-hour` runs after latency-p95: once for this committed run, over its output.
    const downstream = pipeline('slowest-hour');
    const rows = await waitFor(async () => {
      const out = await readTopic(env.config.kafka.brokers, downstream.outputTopic);
      return out.length === 3 * PARTITIONS ? out : undefined;
    }, { timeoutMs: 60_000, description: 'the downstream run\'s output' });
    const slowest = new Map<string, { hour: string; p95: number }>();
    for (const r of output) {
      const row = valueOf(r) as { service: string; hour: string; p95: number };
      const key = `${r.partition}/${row.service}`;
      const best = slowest.get(key);
      if (!best || row.p95 > best.p95 || (row.p95 === best.p95 && row.hour < best.hour)) slowest.set(key, { hour: row.hour, p95: row.p95 });
    }
    expect(new Map(rows.map((r) => [`${r.partition}/${r.key}`, { hour: valueOf(r).hour, p95: valueOf(r).p95 }]))).toEqual(slowest);
    expect(await countWorkflows(env.client, batchWorkflowId('slowest-hour'))).toBe(1);
  });

  test('after: a downstream runs once per upstream run that committed new output, and not after a run with nothing new', async () => {
    const upstream = pipeline('latency-p95');
    const idle: BatchReport = await (await startBatch(env.client, env.config, upstream, `p95-idle-${randomUUID()}`)).result();
    expect(idle.recordsIn).toBe(0);
    await waitFor(async () => (await env.client.workflow.getHandle(batchWorkflowId('slowest-hour')).describe()).status.name !== 'RUNNING' || undefined);
    expect(await countWorkflows(env.client, batchWorkflowId('slowest-hour'))).toBe(1);

    await produceHits(accessLog(300));
    const more: BatchReport = await (await startBatch(env.client, env.config, upstream, `p95-more-${randomUUID()}`)).result();
    expect(more.recordsIn).toBe(300);
    await waitFor(async () => ((await countWorkflows(env.client, batchWorkflowId('slowest-hour'))) === 2 ? true : undefined), { description: 'a second downstream run' });
    const second = await env.client.workflow.getHandle(batchWorkflowId('slowest-hour')).result();
    expect((second as BatchReport).recordsIn).toBe(more.recordsOut);
  });

  test('a project workflow runs a batch pipeline, then starts a project command whose workflow calls a project activity', async () => {
    await produceHits(accessLog(30));
    const result = (await env.client.workflow.execute('nightly', { taskQueue: env.config.temporal.taskQueue, workflowId: `nightly-${randomUUID()}` })) as { recordsOut: number; reportWorkflowId: string };
    expect(result.recordsOut).toBeGreaterThan(0);
    expect(await env.client.workflow.getHandle(result.reportWorkflowId).result()).toBe(`latency-p95 wrote ${result.recordsOut} records`);
  });

  test('the dispatcher starts a project command from the commands topic; an undeclared one is a dead letter', async () => {
    const config = dispatcherConfig(env.config);
    await env.kafka.admin.ensureTopics([{ topic: config.dispatcher.topic, partitions: 1 }]);
    const dispatcher = startDispatcher({ ...env, config }, { extra: project.commands });
    try {
      const key = `report-${randomUUID()}`;
      await sendCommands(env.kafka, config.dispatcher.topic, [
        { command: 'app.record_report', params: { pipeline: 'nightly', recordsOut: 7 }, idempotencyKey: key },
        { command: 'app.drop_tables', params: {} },
      ]);
      const result = await waitFor(async () => env.client.workflow.getHandle(commandWorkflowId('app.record_report', key)).result().catch(() => undefined), { timeoutMs: 60_000, description: 'the command\'s workflow result' });
      expect(result).toBe('nightly wrote 7 records');
      const dead = await waitFor(async () => {
        const records = await readTopic(env.config.kafka.brokers, config.dispatcher.deadLetterTopic).catch(() => []);
        return records.length > 0 ? records : undefined;
      }, { timeoutMs: 30_000, description: 'the dead letter' });
      expect(dead.map((r) => r.headers['kto-dlq-reason'] ?? JSON.stringify(r.headers))).toEqual([expect.stringContaining('unknown-command')]);
    } finally {
      await dispatcher.stop();
    }
  });

  test('map: server errors re-keyed by path with their headers; a throwing transform dead-letters exactly those records', async () => {
    const options = pipeline('server-errors');
    const report: BatchReport = await (await startBatch(env.client, env.config, options, `errors-${randomUUID()}`)).result();
    const input = await readTopic(env.config.kafka.brokers, topic);
    const noPath = input.filter((r) => (valueOf(r) as unknown as Hit).path === undefined);
    // In input order per partition: the n-th output of a partition is its n-th server error.
    const expected = [0, 1, 2].map((p) =>
      input
        .filter((r) => r.partition === p)
        .map((r) => valueOf(r) as unknown as Hit)
        .filter((hit) => hit.status >= 500 && hit.path !== undefined)
        .map((hit) => `${hit.path!.toLowerCase()}|${hit.status}`),
    );
    expect(report.malformed).toBe(noPath.length);

    const output = await readTopic(env.config.kafka.brokers, options.outputTopic);
    for (const r of output) expect(r.headers['x-status']).toBe(String(valueOf(r).status));
    expect([0, 1, 2].map((p) => output.filter((r) => r.partition === p).map((r) => `${r.key}|${valueOf(r).status}`))).toEqual(expected);
    expect(expected.flat().length).toBeGreaterThan(100);

    const errors = await readTopic(env.config.kafka.brokers, options.errorTopic!);
    expect(errors.map((e) => `${e.partition}/${e.headers['kto-source-offset']}`).sort()).toEqual(noPath.map((r) => `${r.partition}/${r.offset}`).sort());
    for (const e of errors) expect(e.headers['kto-error-reason']).toMatch(/^processor-error: .*toLowerCase/);
  });

  test('avro: a processor with decode "avro" reads Confluent-framed records with their schema from the registry; other values are dead letters with the reason', async () => {
    const options = pipeline('order-totals');
    await env.kafka.admin.ensureTopics([{ topic: options.topic, partitions: 1 }, { topic: options.outputTopic, partitions: 1 }]);
    const registry = new SchemaRegistry({ host: env.config.schemaRegistry.url });
    const schema = { type: 'record', name: 'Order', namespace: 'test', fields: [{ name: 'customer', type: 'string' }, { name: 'cents', type: 'long' }] };
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject: `${options.topic}-value` });
    const orders = Array.from({ length: 200 }, (_, i) => ({ customer: `c${i % 7}`, cents: (i * 131) % 10_000 }));
    const framed = await Promise.all(orders.map((o) => registry.encode(id, o)));
    const unknownId = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), framed[0].subarray(5)]);
    await env.kafka.produce([...framed.map((value) => ({ topic: options.topic, key: null, value })), ...[Buffer.from('{"customer":"json"}'), unknownId].map((value) => ({ topic: options.topic, key: null, value }))]);

    const report: BatchReport = await (await startBatch(env.client, env.config, options, `avro-${randomUUID()}`)).result();
    expect(report).toMatchObject({ recordsIn: 202, malformed: 2 });
    const expected = new Map<string, { orders: number; cents: number }>();
    for (const o of orders) {
      const t = expected.get(o.customer) ?? { orders: 0, cents: 0 };
      expected.set(o.customer, { orders: t.orders + 1, cents: t.cents + o.cents });
    }
    const output = await readTopic(env.config.kafka.brokers, options.outputTopic);
    expect(new Map(output.map((r) => [r.key, { orders: valueOf(r).orders, cents: valueOf(r).cents }]))).toEqual(expected);
    const errors = await readTopic(env.config.kafka.brokers, options.errorTopic);
    expect(errors.map((e) => [e.headers['kto-source-offset'], e.headers['kto-error-reason']])).toEqual([
      ['200', expect.stringMatching(/^invalid-avro: not in the Confluent wire format/)],
      ['201', expect.stringMatching(/^unknown-schema: schema id 2147483632 /)],
    ]);
  });
});
