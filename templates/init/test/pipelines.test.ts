import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { commandWorkflowId } from 'kafka-temporal-orchestrator';
import { startTestStack, type TestStack } from 'kafka-temporal-orchestrator/testing';
import type { SlowServicesOptions } from '../processors/slow-services';
import { accessLog, expectedP95 } from './access-log';

// Integration tests: a private local stack (Temporal, Kafka, SMTP sink, schema registry) with a
// kto worker and dispatcher serving this project, as `kto worker` and `kto dispatcher` would.

let kto: TestStack;
const hits = accessLog(3_000);
// Keyed by service, so each service's requests share a partition and its p95 is computed in one place.
const produce = (list: typeof hits) => kto.produce('access-log', list.map((value) => ({ key: value.service, value })));
const lastRunOf = async (pipeline: string) => (await kto.client.workflow.getHandle(`kto-batch-${pipeline}`).describe()).runId;

before(async () => {
  kto = await startTestStack();
  await kto.createTopics(['access-log', 'service-latency', 'server-errors-by-path', 'slow-services'].map((topic) => ({ topic, partitions: 3 })));
  await produce(hits);
});

after(() => kto?.stop());

test('reduce: service-latency writes the p95 of each service and hour; bad records are dead letters with the reason', async () => {
  const report = await kto.runBatch('service-latency');
  assert.equal(report.recordsIn, 3_000);
  assert.equal(report.malformed, 60);
  const output = await kto.readTopic('service-latency');
  assert.deepEqual(new Map(output.map((r) => [r.key, (r.value as { p95: number }).p95])), expectedP95(hits));
  const errors = await kto.readTopic('access-log.errors');
  assert.equal(errors.length, 60);
  assert.ok(errors.every((e) => e.headers['kto-error-reason'] === 'bad-latency: null'));
});

test('after: slow-services ran once after that run, with the slow hours; an upstream run with nothing new starts no run', async () => {
  const first = await lastRunOf('slow-services');
  const result = await kto.client.workflow.getHandle(`kto-batch-slow-services`).result();
  const { thresholdMs } = kto.project.batch.find((p) => p.name === 'slow-services')!.processorOptions as SlowServicesOptions;
  const slow = [...expectedP95(hits)].filter(([, p95]) => p95 > thresholdMs);
  assert.ok(slow.length > 0 && slow.length < expectedP95(hits).size);
  assert.equal(result.recordsOut, slow.length);
  assert.deepEqual((await kto.readTopic('slow-services')).map((r) => `${(r.value as { hour: string }).hour}|${r.key}`).sort(), slow.map(([key]) => key.split('|').reverse().join('|')).sort());

  const idle = await kto.runBatch('service-latency');
  assert.equal(idle.recordsIn, 0);
  assert.equal(await lastRunOf('slow-services'), first);
});

test('map: server-errors-by-path keeps the 5xx requests, keyed by lower-case path', async () => {
  await kto.runBatch('server-errors-by-path');
  const output = await kto.readTopic('server-errors-by-path');
  const expected = hits.filter((h) => h.status >= 500).map((h) => `${h.path.toLowerCase()}|${h.service}|${h.at}`);
  assert.deepEqual(output.map((r) => `${r.key}|${(r.value as { service: string }).service}|${(r.value as { at: string }).at}`).sort(), expected.sort());
  assert.ok(output.every((r) => r.headers['x-status'] === '503'));
});

test('a command from the commands topic starts its workflow, which calls the project activity', async () => {
  await kto.sendCommand('app.notify_latency', { pipeline: 'nightly', rows: 3 }, { idempotencyKey: 'notice-1' });
  assert.equal(await kto.workflowResult(commandWorkflowId('app.notify_latency', 'notice-1')), 'nightly wrote 3 rows');
});

test('a workflow runs a batch pipeline, then starts a command with its result', async () => {
  await produce(accessLog(30));
  const report = await kto.client.workflow.execute('latencyReport', { taskQueue: kto.config.temporal.taskQueue, workflowId: 'latency-report-1' });
  const { rows, noticeWorkflowId } = report as { rows: number; noticeWorkflowId: string };
  assert.ok(rows > 0);
  assert.equal(await kto.workflowResult(noticeWorkflowId), `service-latency wrote ${rows} rows`);
});
