import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { batchPipelineWithDefaults, batchWorkflowId, type BackfillReport, type BatchPipelineOptions, type BatchReport } from '../../src/shared/batch';
import { resetBatchPartitions } from '../../src/steps/batch-state';
import { startBatch } from '../support/batch-harness';
import { uniqueTopic } from '../support/helpers';
import { diffTotals, expectedDailyTotals, outputDailyTotals, readTopic } from '../support/kafka-check';
import { runKto } from '../support/run-cli';
import { useTestEnv } from '../support/test-env';

const env = useTestEnv('backfill');
const PARTITIONS = 3;
const PER_DAY = 4;
const day = (d: number) => String(d).padStart(2, '0');

/** Seed-style readings for days 1..5 of December 2006, each with the Kafka timestamp of its reading: per partition, timestamps rise. */
function readings(topic: string, days: number[]) {
  return days.flatMap((d) =>
    Array.from({ length: PARTITIONS * PER_DAY }, (_, i) => {
      const hour = 1 + Math.floor(i / PARTITIONS);
      return {
        partition: i % PARTITIONS,
        timestamp: String(Date.UTC(2006, 11, d, hour, 52)),
        value: JSON.stringify({ datetime: `${day(d)}/12/2006 ${day(hour)}:52:00`, voltage: 230 + ((d * 31 + i * 7) % 200) / 10 }),
        topic,
      };
    }),
  );
}

describe('kto batch backfill and kto batch rerun --failed-only', () => {
  const topic = uniqueTopic('backfill-in');
  const name = `bf-${topic}`;
  const options: BatchPipelineOptions = { pipeline: name, topic, outputTopic: `${topic}.out`, groupId: `${topic}.group`, workerLossTimeout: '3s' };
  const file = path.join(os.tmpdir(), `kto-pipelines-${name}.yaml`);
  const cli = (args: string[]) => runKto(args, { KTO_TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue, KTO_PIPELINES_FILE: file });
  const send = async (records: ReturnType<typeof readings>) => {
    const producer = env.kafka.client.producer({ idempotent: true });
    await producer.connect();
    for (let p = 0; p < PARTITIONS; p++) await producer.send({ topic, messages: records.filter((r) => r.partition === p) });
    await producer.disconnect();
  };

  beforeAll(async () => {
    writeFileSync(file, JSON.stringify({ batch: [{ name, topic, outputTopic: options.outputTopic, groupId: options.groupId, workerLossTimeout: '3s' }] }));
    // Readings from 2006 must outlive the broker's retention.
    const config = { 'retention.ms': '-1' };
    await env.kafka.admin.ensureTopics([
      { topic, partitions: PARTITIONS, config },
      { topic: options.outputTopic, partitions: PARTITIONS, config },
    ]);
    await send(readings(topic, [1, 2, 3, 4, 5]));
    const first = await startBatch(env.client, env.config, options, batchWorkflowId(name));
    await first.result();
  });

  test('a backfill over a time range lands that range once into the output, under its own group', async () => {
    const live = await env.kafka.admin.committedOffsets(options.groupId, topic);
    const id = 'dec-2-3';
    const args = ['batch', 'backfill', name, '--from', '2006-12-02T00:00:00Z', '--to', '2006-12-04T00:00:00Z', '--id', id, '--json'];
    const result = await cli(args);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toMatchObject({ workflowId: `kto-backfill-${name}-${id}`, status: 'completed' });

    const brokers = env.config.kafka.brokers;
    const [input, output] = await Promise.all([readTopic(brokers, topic), readTopic(brokers, options.outputTopic)]);
    const inRange = input.filter((r) => /"0[23]\/12\/2006/.test(r.value ?? ''));
    const backfilled = output.filter((r) => r.headers['kto-backfill-id'] === id);
    expect(inRange.length).toBe(2 * PARTITIONS * PER_DAY);
    expect(diffTotals(expectedDailyTotals(inRange), outputDailyTotals(backfilled))).toEqual([]);
    for (const r of backfilled) expect(String(r.partition)).toBe(r.headers['kto-source-partition']);
    // The live run's output is all the rest, and the live group has not moved.
    expect(output.filter((r) => r.headers['kto-backfill-id'] === undefined).length).toBe(output.length - backfilled.length);
    expect(await env.kafka.admin.committedOffsets(options.groupId, topic)).toEqual(live);

    // The same id again lands nothing.
    const again = await cli(args);
    expect(again.code).toBe(0);
    const report = (JSON.parse(again.stdout) as { report: BackfillReport }).report;
    expect(report.recordsOut).toBe(0);
    expect((await readTopic(brokers, options.outputTopic)).length).toBe(output.length);
  });

  test('rerun --failed-only starts children for the failed partitions only, and refuses a run that did not fail', async () => {
    // A real fault on partition 1: records past the group's offset deleted before the run read them.
    await send(readings(topic, [5]));
    const committed = await env.kafka.admin.committedOffsets(options.groupId, topic);
    const admin = env.kafka.client.admin();
    await admin.connect();
    await admin.fetchTopicMetadata({ topics: [topic] });
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 1, offset: String(committed.get(1)! + 2n) }] });
    await admin.disconnect();
    const failed = await startBatch(env.client, env.config, options, batchWorkflowId(name));
    await expect(failed.result()).rejects.toMatchObject({ cause: { message: expect.stringMatching(/^1 of 3 partitions failed: p1: .*deleted/) } });

    await resetBatchPartitions(env.kafka, batchPipelineWithDefaults(options), 'earliest', [1]);
    const rerun = await cli(['batch', 'rerun', batchWorkflowId(name), '--failed-only', '--json']);
    expect(rerun).toMatchObject({ code: 0 });
    const { runId, report } = JSON.parse(rerun.stdout) as { runId: string; report: BatchReport };
    expect(report.partitionSummaries.map((s) => [s.partition, s.status])).toEqual([[1, 'committed']]);
    const history = await env.client.workflow.getHandle(batchWorkflowId(name), runId).fetchHistory();
    const children = (history.events ?? []).flatMap((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? []);
    expect(children).toEqual([`${batchWorkflowId(name)}-p1`]);

    // The rerun completed: nothing failed in it to rerun.
    const refused = await cli(['batch', 'rerun', batchWorkflowId(name), '--failed-only']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`batch run "${batchWorkflowId(name)}" did not fail (completed)`);
  });
});
