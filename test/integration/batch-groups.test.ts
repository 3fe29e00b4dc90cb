import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { Kafka, logLevel } from 'kafkajs';
import { batchWorkflowId, type BatchPipelineOptions, type BatchReport, type PartitionGroupInput, type PartitionGroupResult } from '../../src/shared/batch';
import { summarizeHistory } from '../../src/temporal/runs';
import { createTestPipeline, expectExactlyOnce, startBatch } from '../support/batch-harness';
import { useFaultScenarios } from '../support/fault-scenario';

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

describe('partition groups', () => {
  test('six small partitions, two children at once: two group children of three, every record lands once, the next run too', async () => {
    const { id, runConfig, worker } = scenario('grouped');
    worker();
    const pipeline = await createTestPipeline(env.kafka, 6, 40);
    await pipeline.produce(600);
    const options: BatchPipelineOptions = { ...pipeline.options, pipeline: `groups-${id}`, maxConcurrentPartitions: 2 };

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

  test('a partition that fails inside a group: the run fails naming it alone, the partitions after it in its group land', async () => {
    const { id, runConfig, worker } = scenario('group-failure');
    worker();
    const pipeline = await createTestPipeline(env.kafka, 6);
    await pipeline.produce(600);
    const options: BatchPipelineOptions = { ...pipeline.options, pipeline: `groups-${id}`, maxConcurrentPartitions: 2 };
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

  test.each(['commit:commitAggregateProduce', 'after:commitAggregateProduce'])(
    'kill -9 of the worker at %s of a group partition: another worker finishes the group, nothing lost or doubled',
    async (point) => {
      const { id, runConfig, worker } = scenario(point);
      const pipeline = await createTestPipeline(env.kafka, 3, 40);
      await pipeline.produce(900);
      const options: BatchPipelineOptions = { ...pipeline.options, pipeline: `groups-${id}`, maxConcurrentPartitions: 1 };

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
