import { randomUUID } from 'node:crypto';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Activities, WorkerLocalActivities } from '../../activities';
import { REPORTED_PARTITIONS, type BatchReport, type ConsumeInput } from '../../src/shared/batch';
import { connectClient } from '../../src/temporal/connection';
import { bundleWorkflows } from '../../src/worker';
import { testConfig } from '../support/helpers';
import { testWorkflowBundle } from '../support/test-env';

/**
 * The orchestration at scale, on the real Temporal server with fake activities (no Kafka).
 * A run over 128 partitions (more than the lane count, so lanes refill) measures the parent's
 * history per partition; at 1,024 partitions that stays far below Temporal's limits, the
 * result lists a bounded number of partitions, and pending children never exceed
 * `maxConcurrentPartitions`. A real 1,024 run takes minutes
 * on the dev server, so it lives in the benchmark, not in every test run.
 */
const PARTITIONS = 128;
const LANES = 32;

test('the fan-out refills bounded lanes and its history per partition keeps 1,024 partitions under the limits', async () => {
  const config = testConfig();
  const taskQueue = `scale-${randomUUID()}`;
  const partitions = Array.from({ length: PARTITIONS }, (_, i) => i);
  const fakes: Pick<Activities, 'listPartitions' | 'consume' | 'commit' | 'downstreamPipelines'> & WorkerLocalActivities = {
    listPartitions: async () => ({ partitions, pending: partitions }),
    consume: async (input: ConsumeInput) => ({
      from: '0',
      to: '9',
      firstRun: false,
      records: 10,
      file: `staged-${input.partition}`,
      workerQueue: taskQueue,
      durationMs: 1,
    }),
    commit: async () => ({ durationMs: 1 }),
    downstreamPipelines: async () => [],
    aggregate: async () => ({ groups: 1, accepted: 10, malformed: 0, outputFile: 'out', errorsFile: 'err', durationMs: 1 }),
    produce: async () => ({ status: 'committed' as const, outputRecords: 1, errorRecords: 0, durationMs: 1 }),
    commitAggregateProduce: async () => ({ status: 'committed' as const, outputRecords: 1, malformed: 0, durationsMs: { commit: 1, aggregate: 1, produce: 1 } }),
  };
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowBundle: testWorkflowBundle() ?? (await bundleWorkflows()),
    activities: fakes,
    maxConcurrentActivityTaskExecutions: 200,
    maxConcurrentWorkflowTaskExecutions: 200,
  });
  const client = await connectClient(config.temporal);
  try {
    const workflowId = `scale-${randomUUID()}`;
    const report: BatchReport = await worker.runUntil(
      client.workflow.execute('batch', {
        taskQueue,
        workflowId,
        args: [{ topic: 'scale-in', outputTopic: 'scale-out', groupId: 'scale', maxConcurrentPartitions: LANES }],
      }),
    );
    expect(report.partitions).toBe(PARTITIONS);
    expect(report.recordsIn).toBe(PARTITIONS * 10);
    // The result lists 64 partitions and counts the rest: its size does not grow with the partitions.
    expect(report.partitionSummaries.map((s) => s.partition)).toEqual(partitions.slice(0, REPORTED_PARTITIONS));
    expect(report.partitionsNotListed).toBe(PARTITIONS - REPORTED_PARTITIONS);
    expect(JSON.stringify(report).length).toBeLessThan(20_000);
    const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    // Never more children in flight than lanes.
    let inFlight = 0;
    let peak = 0;
    for (const e of events) {
      if (e.startChildWorkflowExecutionInitiatedEventAttributes) peak = Math.max(peak, ++inFlight);
      if (e.childWorkflowExecutionCompletedEventAttributes || e.childWorkflowExecutionFailedEventAttributes) inFlight--;
    }
    expect(peak).toBeLessThanOrEqual(LANES);
    // Temporal warns at 10,240 history events and fails a run at 51,200.
    const perPartition = events.length / PARTITIONS;
    expect(perPartition * 1024).toBeLessThan(10_240);
  } finally {
    await client.connection.close();
    await connection.close();
  }
}, 600_000);
