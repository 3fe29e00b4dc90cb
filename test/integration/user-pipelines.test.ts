import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadPipelines } from '../../src/project/load';
import { batchOptionsOf, type BatchPipelineConfig } from '../../src/project/pipelines-file';
import type { BatchPipelineOptions, BatchReport } from '../../src/shared/batch';
import { runWorker } from '../../src/worker';
import { startBatch } from '../support/batch-harness';
import { uniqueTopic } from '../support/helpers';
import { readTopic, type TopicRecord } from '../support/kafka-check';
import { testWorkflowBundle, useTestEnv } from '../support/test-env';

/**
 * A project's own processors inside the exactly-once path: the fixture project declares a reduce
 * pipeline (p95 latency per service per hour) and a map pipeline (server errors re-keyed by path)
 * in its kto.config.ts; a worker loads them from there and the output is checked against an
 * independent computation over the input.
 */
const env = useTestEnv('user-pipelines', { worker: false });
const project = loadPipelines({ KTO_CONFIG: path.join(__dirname, '../fixtures/user-project/kto.config.ts') }, __dirname);
const PARTITIONS = 3;

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
    service: ['api', 'web', 'auth'][i % 3],
    at: `2026-11-2${i % 2}T${String((i * 7) % 24).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00Z`,
    latencyMs: i % 97 === 96 ? 'slow' : (i * 37) % 1_000,
    ...(i % 89 === 88 ? {} : { path: `/Items/${i % 5}` }),
    status: i % 11 === 0 ? 500 + (i % 4) : 200,
  }));
}

function pipeline(name: string, topic: string): BatchPipelineOptions {
  const configured = project.batch.find((p) => p.name === name) as BatchPipelineConfig;
  return { ...batchOptionsOf(configured), topic, outputTopic: `${topic}.${name}`, errorTopic: `${topic}.${name}.errors`, groupId: `${topic}.${name}`, workerLossTimeout: '3s' };
}

const valueOf = (r: TopicRecord) => JSON.parse(r.value!) as Record<string, unknown>;

describe('a project\'s own processors on the real stack', () => {
  let stopWorker: () => void = () => undefined;
  let worker: Promise<void>;
  const topic = uniqueTopic('access-log');
  const hits = accessLog(3_000);

  beforeAll(async () => {
    worker = runWorker({ config: env.config, logger: env.logger, project, workflowBundle: testWorkflowBundle(), stopSignal: new Promise<void>((resolve) => (stopWorker = resolve)) });
    await env.kafka.admin.ensureTopics([{ topic, partitions: PARTITIONS }, ...['latency-p95', 'server-errors'].map((n) => ({ topic: `${topic}.${n}`, partitions: PARTITIONS }))]);
    await env.kafka.produce(hits.map((hit, i) => ({ topic, partition: i % PARTITIONS, key: null, value: JSON.stringify(hit) })));
  });
  afterAll(async () => {
    stopWorker();
    await worker;
  });

  test('reduce: p95 per service per hour equals an independent computation; records it rejects are dead letters with the reason', async () => {
    const options = pipeline('latency-p95', topic);
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
  });

  test('map: server errors re-keyed by path with their headers; a throwing transform dead-letters exactly those records', async () => {
    const options = pipeline('server-errors', topic);
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
});
