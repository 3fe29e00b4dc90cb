import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { findFreePorts } from '../../src/devstack';
import { loadPipelines } from '../../src/project/load';
import { batchOptionsOf, type BatchPipelineConfig } from '../../src/project/pipelines-file';
import { batchWorkflowId, type BatchReport } from '../../src/shared/batch';
import type { StatusReport } from '../../src/status/collect';
import { runWorker } from '../../src/worker';
import { createTestPipeline, startBatch, type TestPipeline } from '../support/batch-harness';
import { uniqueTopic, waitFor } from '../support/helpers';
import { runKto } from '../support/run-cli';
import { testWorkflowBundle, useTestEnv } from '../support/test-env';

/**
 * `kto status` on a batch pipeline mid-backlog: one run over FIRST records, then MORE records
 * nobody has read. Its lag per partition must agree with an independent read through kafkajs'
 * admin (what kafka-consumer-groups shows), and so must the worker's lag gauge.
 */

const PARTITIONS = 3;
const FIRST = 30;
const MORE = 20;

const env = useTestEnv('status', { worker: false });
let dir: string;
let pipeline: TestPipeline;
let configured: BatchPipelineConfig;
let metricsPort: number;
let stopWorker: () => void;
let worker: Promise<void>;
let report: BatchReport;
let cliEnv: Record<string, string>;

/** The group's lag per partition as kafkajs' admin reads it: committed offsets (fetchOffsets) against high watermarks (fetchTopicOffsets). */
async function independentLag(): Promise<Array<{ partition: number; committed: number; high: number; lag: number }>> {
  const admin = new Kafka({ brokers: env.config.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const [[committed], highs] = await Promise.all([
      admin.fetchOffsets({ groupId: configured.groupId, topics: [configured.topic] }),
      admin.fetchTopicOffsets(configured.topic),
    ]);
    return highs
      .map((h) => {
        const offset = Number(committed.partitions.find((p) => p.partition === h.partition)?.offset ?? '-1');
        return { partition: h.partition, committed: offset, high: Number(h.high), lag: Number(h.high) - offset };
      })
      .sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}

beforeAll(async () => {
  pipeline = await createTestPipeline(env.kafka, PARTITIONS);
  const name = `${pipeline.options.topic}-status`;
  dir = await mkdtemp(path.join(os.tmpdir(), 'kto-status-'));
  const file = path.join(dir, 'kto.pipelines.yaml');
  const { topic, outputTopic, errorTopic, groupId } = pipeline.options;
  await writeFile(file, `batch:\n  - name: ${name}\n    topic: ${topic}\n    outputTopic: ${outputTopic}\n    errorTopic: ${errorTopic}\n    groupId: ${groupId}\n`);
  cliEnv = { KTO_PIPELINES_FILE: file, KTO_TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue };
  const project = loadPipelines({ KTO_PIPELINES_FILE: file }, dir);
  configured = project.batch[0];

  [metricsPort] = await findFreePorts(1);
  const config = { ...env.config, metricsPort, lagRefreshSeconds: 1 };
  worker = runWorker({ config, logger: env.logger, project, workflowBundle: testWorkflowBundle(), stopSignal: new Promise<void>((resolve) => (stopWorker = resolve)) });

  await pipeline.produce(FIRST);
  const handle = await startBatch(env.client, env.config, { ...batchOptionsOf(configured), workerLossTimeout: '3s' }, batchWorkflowId(name));
  report = (await handle.result()) as BatchReport;
  await pipeline.produce(MORE);
  // Visibility catches up with the run's close a moment after it.
  await waitFor(async () => {
    for await (const info of env.client.workflow.list({ query: `WorkflowType = 'batch' AND KtoPipeline = "${name}"` })) if (info.status.name === 'COMPLETED') return true;
    return false;
  });
}, 120_000);

afterAll(async () => {
  stopWorker?.();
  await worker;
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('kto status --json agrees per partition with kafkajs admin and shows the last run', async () => {
  expect(report.recordsIn).toBe(FIRST);
  const result = await runKto(['status', configured.name, '--json'], cliEnv);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const status = JSON.parse(result.stdout) as StatusReport;
  expect(status.pipelines.map((p) => p.name)).toEqual([configured.name]);
  const [entry] = status.pipelines;

  const expected = await independentLag();
  expect(expected.reduce((n, p) => n + p.lag, 0)).toBe(MORE);
  expect(entry.lag?.partitions.map(({ partition, committed, high, lag }) => ({ partition, committed, high, lag }))).toEqual(expected);
  expect(entry.lag?.total).toBe(MORE);

  expect(entry.lastRun).toMatchObject({ workflowId: batchWorkflowId(configured.name), status: 'COMPLETED', recordsIn: FIRST, recordsOut: report.recordsOut, malformed: 0 });
  expect(entry.lastRun?.durationMs).toBeGreaterThan(0);
  expect(entry.runInFlight).toBe(false);
  expect(entry.schedule).toBeNull();
  expect(entry).toMatchObject({ kind: 'batch', verdict: 'behind' });
});

test('the table names the pipeline, its health and every partition; an unknown pipeline names the known ones', async () => {
  const table = await runKto(['status', configured.name], cliEnv);
  expect(table.stderr).toBe('');
  expect(table.stdout).toContain(configured.name);
  expect(table.stdout).toContain('behind');
  expect(table.stdout).toContain('high watermark');

  const unknown = await runKto(['status', 'no-such-pipeline'], cliEnv);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toContain('no pipeline named "no-such-pipeline"');
  expect(unknown.stderr).toContain(configured.name);
  expect(unknown.stderr).toContain('dispatcher');
});

test('a dispatcher whose commands topic does not exist is reported as such, and the command exits at once', async () => {
  const topic = uniqueTopic('no-commands');
  // Before the lag read waited for its offset read, a watermark read of the missing topic went on
  // retrying past the admin's close and kept the process alive.
  const result = await runKto(['status', 'dispatcher'], { ...cliEnv, KTO_DISPATCHER_TOPIC: topic }, 20_000);
  expect(result).toMatchObject({ code: 0, stderr: '' });
  expect(result.stdout).toContain(`topic ${topic} does not exist`);
});

test("the worker's kto_consumer_lag_records reports the same lag per partition", async () => {
  const expected = await independentLag();
  const gauge = async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    return expected.map(({ partition }) => {
      const line = text.split('\n').find((l) => l.startsWith('kto_consumer_lag_records{') && l.includes(`pipeline="${configured.name}"`) && l.includes(`partition="${partition}"`));
      return line === undefined ? undefined : Number(line.split(' ').pop());
    });
  };
  // Refreshed every second (lagRefreshSeconds: 1).
  await waitFor(async () => JSON.stringify(await gauge()) === JSON.stringify(expected.map((p) => p.lag)), { timeoutMs: 10_000 });
  expect(await gauge()).toEqual(expected.map((p) => p.lag));
});
