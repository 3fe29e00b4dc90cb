import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { commandWorkflowId } from '../../src/commands/registry';
import { batchTopics, COMPLETE_BATCH_COMMAND, createCompleteBatchConsumer, publishBatch, type BatchTopics, type CompleteBatchConsumerOptions } from '../../src/complete-batch';
import { COMPLETE_BATCH_HEADERS, type CompleteBatchSummary } from '../../src/shared/complete-batch';
import { countWorkflows } from '../support/dispatcher-harness';
import { uniqueTopic, waitFor } from '../support/helpers';
import { readTopic, type TopicRecord } from '../support/kafka-check';
import { startTestWorker, useTestEnv } from '../support/test-env';
import { startWorkerProcess } from '../support/worker-process';

const env = useTestEnv('complete-batch-q');

const voltage = (i: number, v = 200 + i) => ({ datetime: `0${1 + (i % 2)}/12/2020 10:00:00`, voltage: v });
const dataRecord = (eventId: string, id: number | string, offset: number, payload: unknown) => ({
  topic: '',
  key: eventId,
  value: JSON.stringify({ eventId, id, offset, payload }),
});
const eventValue = (eventId: string, capacity: number, topic: string, offset: number) =>
  JSON.stringify({ eventId, capacity, sourceDescriptor: { topic, partition: 0, offset }, description: `test ${eventId}` });

/** Fresh topics for one test, created up front so nothing races topic creation. */
async function streamTopics() {
  const topics = batchTopics('test.kto', uniqueTopic('cb'));
  await env.kafka.admin.ensureTopics([topics.data, topics.event, topics.output, topics.error].map((topic) => ({ topic, partitions: 1 })));
  return topics;
}

function startConsumer(topics: ReturnType<typeof batchTopics>, config = env.config, options: Partial<CompleteBatchConsumerOptions> = {}) {
  const consumer = createCompleteBatchConsumer({
    ...env,
    config,
    eventTopic: topics.event,
    outputTopic: topics.output,
    errorTopic: topics.error,
    deadlineMs: 60_000,
    pollIntervalMs: 300,
    workerLossTimeoutMs: 5_000,
    ...options,
  });
  const running = consumer.run();
  return { consumer, stop: async () => { await consumer.stop(); await running; } };
}

const brokers = () => env.config.kafka.brokers;
const runOf = (r: TopicRecord) => r.headers[COMPLETE_BATCH_HEADERS.run];
/** The run the event record at `offset` of partition 0 starts. */
const runId = (topics: BatchTopics, offset: number | bigint) => commandWorkflowId(COMPLETE_BATCH_COMMAND, `${topics.event}-0-${offset}`);

/** Output rows per run, read independently; count and sum are summed over the run's rows. */
async function outputTotals(topic: string): Promise<Map<string, { rows: number; count: number; sum: number }>> {
  const totals = new Map<string, { rows: number; count: number; sum: number }>();
  for (const r of await readTopic(brokers(), topic)) {
    const row = JSON.parse(r.value!) as { count: number; sum: number };
    const t = totals.get(runOf(r)) ?? { rows: 0, count: 0, sum: 0 };
    totals.set(runOf(r), { rows: t.rows + 1, count: t.count + row.count, sum: t.sum + row.sum });
  }
  return totals;
}

/** Waits for the consumer to start the run, then for its result. */
async function result(workflowId: string): Promise<CompleteBatchSummary> {
  const handle = env.client.workflow.getHandle(workflowId);
  await waitFor(() => handle.describe(), { timeoutMs: 60_000, description: `run ${workflowId} to start` });
  return (await handle.result()) as CompleteBatchSummary;
}
const sumOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

test('interleaved batches on one partition are each processed once, complete and separately', async () => {
  const topics = await streamTopics();
  const a = [0, 1, 2, 3].map((i) => voltage(i, 100 + i));
  const b = [0, 1, 2].map((i) => voltage(i, 500 + i));
  // Kafka offsets: A0 B0 A1 B1 A2 B2 A3 — A starts at 0, B at 1.
  const interleaved = [0, 1, 2, 3].flatMap((i) => [dataRecord('A', i, i, a[i]), ...(b[i] ? [dataRecord('B', i, i, b[i])] : [])]);
  await env.kafka.produce(interleaved.map((r) => ({ ...r, topic: topics.data, partition: 0 })));
  await env.kafka.produce([
    { topic: topics.event, partition: 0, key: 'A', value: eventValue('A', 4, topics.data, 0) },
    { topic: topics.event, partition: 0, key: 'B', value: eventValue('B', 3, topics.data, 1) },
  ]);
  const c = startConsumer(topics);
  try {
    const [ra, rb] = await Promise.all([result(runId(topics, 0)), result(runId(topics, 1))]);
    expect([ra.status, rb.status]).toEqual(['processed', 'processed']);
    const totals = await outputTotals(topics.output);
    expect(totals.get(runId(topics, 0))).toMatchObject({ count: 4, sum: sumOf(a.map((x) => x.voltage)) });
    expect(totals.get(runId(topics, 1))).toMatchObject({ count: 3, sum: sumOf(b.map((x) => x.voltage)) });
    expect(totals.size).toBe(2);
  } finally {
    await c.stop();
  }
});

test('duplicate records count once (the first copy wins)', async () => {
  const topics = await streamTopics();
  const records = [dataRecord('D', 1, 0, voltage(0, 10)), dataRecord('D', 1, 0, voltage(0, 9999)), dataRecord('D', 2, 1, voltage(1, 20)), dataRecord('D', 2, 1, voltage(1, 9999)), dataRecord('D', 3, 2, voltage(0, 30))];
  await env.kafka.produce(records.map((r) => ({ ...r, topic: topics.data, partition: 0 })));
  await env.kafka.produce([{ topic: topics.event, partition: 0, key: 'D', value: eventValue('D', 3, topics.data, 0) }]);
  const c = startConsumer(topics);
  try {
    const r = await result(runId(topics, 0));
    expect(r).toMatchObject({ status: 'processed', kept: 3, duplicates: 2 });
    expect((await outputTotals(topics.output)).get(runId(topics, 0))).toMatchObject({ count: 3, sum: 60 });
  } finally {
    await c.stop();
  }
});

test('records of an aborted transaction do not count', async () => {
  const topics = await streamTopics();
  const raw = new Kafka({ brokers: brokers(), clientId: 'kto-test-abort', logLevel: logLevel.NOTHING });
  const producer = raw.producer({ transactionalId: `abort-${topics.data}`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const txn = await producer.transaction();
  await txn.send({ topic: topics.data, messages: [1, 2, 3].map((id, i) => ({ partition: 0, ...dataRecord('X', id, i, voltage(i, 7777)) })) });
  await txn.abort();
  await producer.disconnect();
  await env.kafka.produce([1, 2, 3].map((id, i) => ({ ...dataRecord('X', id, i, voltage(i, id)), topic: topics.data, partition: 0 })));
  // The event points at the aborted records' first offset: the reader must skip them.
  await env.kafka.produce([{ topic: topics.event, partition: 0, key: 'X', value: eventValue('X', 3, topics.data, 0) }]);
  const c = startConsumer(topics);
  try {
    expect(await result(runId(topics, 0))).toMatchObject({ status: 'processed', kept: 3, duplicates: 0 });
    expect((await outputTotals(topics.output)).get(runId(topics, 0))).toMatchObject({ count: 3, sum: 6 });
  } finally {
    await c.stop();
  }
});

test('an incomplete batch hits its deadline and goes to the error topic once; a bad event is dead-lettered there too', async () => {
  const topics = await streamTopics();
  await env.kafka.produce([0, 1, 2].map((i) => ({ ...dataRecord('I', i, i, voltage(i)), topic: topics.data, partition: 0 })));
  await env.kafka.produce([
    { topic: topics.event, partition: 0, key: 'I', value: eventValue('I', 5, topics.data, 0) },
    { topic: topics.event, partition: 0, key: 'junk', value: 'not json at all' },
  ]);
  const c = startConsumer(topics, env.config, { deadlineMs: 3_000 });
  try {
    const r = await result(runId(topics, 0));
    expect(r).toMatchObject({ status: 'rejected', reason: 'incomplete-batch', kept: 3 });
    expect(r.passes).toBeGreaterThan(1);
    const errors = await waitFor(async () => {
      const all = await readTopic(brokers(), topics.error);
      return all.length === 2 ? all : undefined;
    }, { timeoutMs: 30_000, description: 'two error records' });
    expect(errors.filter((e) => e.headers[COMPLETE_BATCH_HEADERS.reason] === 'incomplete-batch').map(runOf)).toEqual([runId(topics, 0)]);
    expect(errors.filter((e) => e.headers['kto-dlq-reason'] === 'undecodable')).toHaveLength(1);
    expect(await readTopic(brokers(), topics.output)).toHaveLength(0);
  } finally {
    await c.stop();
  }
});

test('publish is one transaction and not repeated; a re-published event reprocesses; a redelivered event record starts nothing', async () => {
  const topics = await streamTopics();
  const payloads = [0, 1, 2, 3, 4].map((i) => voltage(i));
  const records = payloads.map((payload, i) => ({ id: i + 1, payload }));
  const first = await publishBatch(env.kafka, { dataTopic: topics.data, eventTopic: topics.event, eventId: 'P', records });
  expect(first).toMatchObject({ status: 'published', event: { capacity: 5, sourceDescriptor: { topic: topics.data, partition: 0, offset: '0' } } });
  const again = await publishBatch(env.kafka, { dataTopic: topics.data, eventTopic: topics.event, eventId: 'P', records });
  expect(again.status).toBe('already-published');
  expect(await readTopic(brokers(), topics.data)).toHaveLength(5);

  const c = startConsumer(topics);
  const expected = { count: 5, sum: sumOf(payloads.map((p) => p.voltage)) };
  try {
    expect((await result(runId(topics, 0))).status).toBe('processed');
    // Reprocess: copy the event record, as the seed describes.
    const [event] = await readTopic(brokers(), topics.event);
    await env.kafka.produce([{ topic: topics.event, partition: 0, key: event.key, value: event.value }]);
    // The publish transaction's commit marker took the offset after the event.
    const copy = (await readTopic(brokers(), topics.event))[1];
    const reprocess = runId(topics, copy.offset);
    expect((await result(reprocess)).status).toBe('processed');

    // Redelivery: a second group reads the same event records again.
    const replay = startConsumer(topics, env.config, { groupId: `${topics.event}-replay` });
    try {
      await waitFor(async () => (await env.kafka.admin.committedOffsets(`${topics.event}-replay`, topics.event)).get(0) === copy.offset + 1n, {
        timeoutMs: 60_000,
        description: 'the replaying group to commit both event records',
      });
    } finally {
      await replay.stop();
    }
    expect(await countWorkflows(env.client, runId(topics, 0))).toBe(1);
    expect(await countWorkflows(env.client, reprocess)).toBe(1);
    const totals = await outputTotals(topics.output);
    expect(totals.get(runId(topics, 0))).toMatchObject(expected);
    expect(totals.get(reprocess)).toMatchObject(expected);
    expect(totals.size).toBe(2);
  } finally {
    await c.stop();
  }
});

test('kill -9 of the worker after the output landed: the retry on another worker writes nothing twice', async () => {
  const topics = await streamTopics();
  const config = { ...env.config, temporal: { ...env.config.temporal, taskQueue: uniqueTopic('complete-batch-kill') } };
  const dir = path.join(process.env.KTO_STAGING_DIR ?? '/tmp', uniqueTopic('cb-kill'));
  const doomed = startWorkerProcess({ taskQueue: config.temporal.taskQueue, dir, hold: 'after:processCompleteBatch' });
  let survivor: ReturnType<typeof startTestWorker> | undefined;
  const c = startConsumer(topics, config);
  try {
    const payloads = [0, 1, 2, 3].map((i) => voltage(i));
    await publishBatch(env.kafka, { dataTopic: topics.data, eventTopic: topics.event, eventId: 'K', records: payloads.map((payload, i) => ({ id: i, payload })) });
    await doomed.held();
    await doomed.kill('SIGKILL');
    // Landed before the kill: visible to an independent read_committed reader already.
    expect((await outputTotals(topics.output)).get(runId(topics, 0))?.count).toBe(4);
    survivor = startTestWorker(config, env.logger);
    const r = await result(runId(topics, 0));
    expect(r.status).toBe('already-processed');
    const totals = await outputTotals(topics.output);
    expect(totals.get(runId(topics, 0))).toMatchObject({ count: 4, sum: sumOf(payloads.map((p) => p.voltage)) });
    expect(totals.size).toBe(1);
  } finally {
    await c.stop();
    await doomed.kill('SIGKILL');
    await survivor?.stop();
  }
});
