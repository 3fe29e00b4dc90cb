import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { Kafka, logLevel } from 'kafkajs';
import {
  backfillGroupId,
  backfillPartitionGroupWorkflowId,
  backfillWorkflowId,
  batchWorkflowId,
  type BackfillReport,
  type BatchPipelineOptions,
  type BatchReport,
  type PartitionGroupInput,
  type PartitionGroupResult,
} from '../../src/shared/batch';
import { summarizeHistory } from '../../src/temporal/runs';
import { createTestPipeline, expectExactlyOnce, startBatch } from '../support/batch-harness';
import { useFaultScenarios } from '../support/fault-scenario';
import { readTopic } from '../support/kafka-check';

/**
 * A run with more partitions to read than children it runs at once: the small partitions share
 * group children (two Temporal tasks per partition instead of four) and still land once each,
 * a failed partition does not stop the others of its group, and a worker killed inside a group
 * partition's commit–aggregate–produce activity loses and doubles nothing.
 */
const { env, scenario } = useFaultScenarios('groups');

/** The group children a run started, with their inputs. */
async function groupChildren(workflowId: string): Promise<{ workflowId: string; type: string; group: number[] }[]> {
  const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  return events.flatMap((e) => {
    const a = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (!a) return [];
    const input = defaultPayloadConverter.fromPayload<PartitionGroupInput>(a.input!.payloads![0]);
    return [{ workflowId: a.workflowId!, type: a.workflowType!.name!, group: input.group }];
  });
}

/**
 * A scenario (see fault-scenario.ts) with a fresh pipeline of `partitions` holding `records`
 * records, `lanes` children at once, and a plain worker on its queue unless `plainWorker` is false.
 */
async function groupScenario(name: string, o: { partitions: number; records: number; lanes: number; malformedEvery?: number; plainWorker?: boolean }) {
  const s = scenario(name);
  if (o.plainWorker !== false) s.worker();
  const pipeline = await createTestPipeline(env.kafka, o.partitions, o.malformedEvery ?? 0);
  await pipeline.produce(o.records);
  const options: BatchPipelineOptions = { ...pipeline.options, pipeline: `groups-${s.id}`, maxConcurrentPartitions: o.lanes };
  return { ...s, pipeline, options };
}

describe('partition groups', () => {
  test('six small partitions, two children at once: two group children of three, every record lands once, the next run too', async () => {
    const { runConfig, pipeline, options } = await groupScenario('grouped', { partitions: 6, records: 600, lanes: 2, malformedEvery: 40 });

    const first = await startBatch(env.client, runConfig, options, batchWorkflowId(options.pipeline!));
    const report: BatchReport = await first.result();
    expect(report.recordsIn).toBe(600);
    expect(report.partitionSummaries.map((s) => [s.partition, s.status])).toEqual([0, 1, 2, 3, 4, 5].map((p) => [p, 'committed']));
    const children = await groupChildren(first.workflowId);
    expect(children).toEqual([
      { workflowId: `kto-batch-${options.pipeline}-p0-p2`, type: 'partitionGroup', group: [0, 1, 2] },
      { workflowId: `kto-batch-${options.pipeline}-p3-p5`, type: 'partitionGroup', group: [3, 4, 5] },
    ]);
    // Per partition: consume, then commit, aggregate and produce in one activity on the consuming worker.
    const group = env.client.workflow.getHandle(children[0].workflowId);
    const steps = summarizeHistory((await group.fetchHistory()).events ?? []).activities.map((a) => a.type);
    expect(steps).toEqual(['consume', 'commitAggregateProduce', 'consume', 'commitAggregateProduce', 'consume', 'commitAggregateProduce']);
    const result: PartitionGroupResult = await group.result();
    expect(result.failures).toEqual([]);
    expect(result.summaries.every((s) => s.durationsMs.produce > 0)).toBe(true);
    await expectExactlyOnce(runConfig, env.kafka, options);

    await pipeline.produce(60);
    const second: BatchReport = await (await startBatch(env.client, runConfig, options, `groups-again-${randomUUID()}`)).result();
    expect(second.recordsIn).toBe(60);
    await expectExactlyOnce(runConfig, env.kafka, options);
  });

  test('a partition with more than 10,000 offsets to read keeps its own child, unless maxRecordsPerRun pins less', async () => {
    const { runConfig, pipeline, options } = await groupScenario('large', { partitions: 3, records: 33_000, lanes: 1 });
    const large = await startBatch(env.client, runConfig, options, `large-${randomUUID()}`);
    expect(((await large.result()) as BatchReport).recordsIn).toBe(33_000);
    expect((await groupChildren(large.workflowId)).map((c) => [c.type, c.group])).toEqual([
      ['partition', undefined],
      ['partition', undefined],
      ['partition', undefined],
    ]);

    await pipeline.produce(33_000);
    const capped = await startBatch(env.client, runConfig, { ...options, maxRecordsPerRun: 5_000 }, `capped-${randomUUID()}`);
    expect(((await capped.result()) as BatchReport).recordsIn).toBe(15_000);
    expect((await groupChildren(capped.workflowId)).map((c) => [c.type, c.group])).toEqual([['partitionGroup', [0, 1, 2]]]);
  });

  test('a partition that fails inside a group: the run fails naming it alone, the partitions after it in its group land', async () => {
    const { runConfig, pipeline, options } = await groupScenario('group-failure', { partitions: 6, records: 600, lanes: 2 });
    await (await startBatch(env.client, runConfig, options, `before-${randomUUID()}`)).result();

    // Retention deleted records of partition 1 past its group offset: that partition fails, with the fix.
    await pipeline.produce(600);
    const admin = new Kafka({ brokers: env.config.kafka.brokers, clientId: 'kto-test-groups', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      // kafkajs finds the partition leader for deleteTopicRecords only once the topic's metadata is loaded.
      await admin.fetchTopicMetadata({ topics: [options.topic] });
      await admin.deleteTopicRecords({ topic: options.topic, partitions: [{ partition: 1, offset: '150' }] });
    } finally {
      await admin.disconnect();
    }
    const failed = await (await startBatch(env.client, runConfig, options, `after-${randomUUID()}`)).result().catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect((failed as WorkflowFailedError).cause?.message).toMatch(/^1 of 6 partitions failed: p1: partition 1 of "[^"]+": records 100\.\.149 were deleted by retention/);
    // Partition 2 runs after partition 1 in the same group child: it landed all 200 of its records.
    const committed = await env.kafka.admin.committedOffsets(options.groupId, options.topic);
    expect([0, 1, 2, 3, 4, 5].map((p) => committed.get(p))).toEqual([200n, 100n, 200n, 200n, 200n, 200n]);
  });

  test('a backfill over more partitions than children at once: group children under the backfill\'s group, each range landed once, a repeat lands nothing', async () => {
    const { runConfig, options } = await groupScenario('backfill', { partitions: 4, records: 400, lanes: 2 });
    const backfill = (workflowId: string): Promise<BackfillReport> =>
      env.client.workflow.execute('backfill', { taskQueue: runConfig.temporal.taskQueue, workflowId, args: [{ pipeline: options, id: 'g', from: '10', to: '30' }] });

    const workflowId = backfillWorkflowId(options.pipeline!, 'g');
    const report = await backfill(workflowId);
    expect(report.partitionSummaries.map((s) => [s.partition, s.status, s.records])).toEqual([0, 1, 2, 3].map((p) => [p, 'committed', 20]));
    expect(await groupChildren(workflowId)).toEqual([
      { workflowId: backfillPartitionGroupWorkflowId(options.pipeline!, 'g', [0, 1]), type: 'partitionGroup', group: [0, 1] },
      { workflowId: backfillPartitionGroupWorkflowId(options.pipeline!, 'g', [2, 3]), type: 'partitionGroup', group: [2, 3] },
    ]);
    const output = await readTopic(env.config.kafka.brokers, options.outputTopic);
    expect(new Set(output.map((r) => `${r.partition} ${r.headers['kto-backfill-id']} ${r.headers['kto-offset-from']}..${r.headers['kto-offset-to']}`))).toEqual(
      new Set([0, 1, 2, 3].map((p) => `${p} g 10..29`)),
    );
    const landed = await env.kafka.admin.committedOffsets(backfillGroupId(options.pipeline!, 'g'), options.topic);
    expect([0, 1, 2, 3].map((p) => landed.get(p))).toEqual([30n, 30n, 30n, 30n]);
    // The live group never moved.
    expect([...(await env.kafka.admin.committedOffsets(options.groupId, options.topic)).values()]).toEqual([null, null, null, null]);

    expect((await backfill(`again-${randomUUID()}`)).recordsOut).toBe(0);
    expect(await readTopic(env.config.kafka.brokers, options.outputTopic)).toHaveLength(output.length);
  });

  test.each(['commit:commitAggregateProduce', 'after:commitAggregateProduce'])(
    'kill -9 of the worker at %s of a group partition: another worker finishes the group, nothing lost or doubled',
    async (point) => {
      const { runConfig, worker, options } = await groupScenario(point, { partitions: 3, records: 900, lanes: 1, malformedEvery: 40, plainWorker: false });

      const doomed = worker(point, 'doomed');
      const handle = await startBatch(env.client, runConfig, options, batchWorkflowId(options.pipeline!));
      await doomed.held();
      await doomed.kill('SIGKILL');
      worker(undefined, 'survivor');

      const report: BatchReport = await handle.result();
      expect((await groupChildren(handle.workflowId)).map((c) => c.group)).toEqual([[0, 1, 2]]);
      expect(report.recordsIn).toBe(900);
      expect(report.partitionSummaries[0].attempts).toBe(2);
      await expectExactlyOnce(runConfig, env.kafka, options);
    },
  );
});
