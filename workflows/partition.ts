import { ActivityFailure, ApplicationFailure, TimeoutFailure, log, proxyActivities, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import type { Duration, RetryPolicy } from '@temporalio/common';
import type { Activities, WorkerLocalActivities } from '../activities';
import type { ConsumeResult, PartitionInput, PartitionSummary, PinnedRange } from '../src/shared/batch';
import { KTO_PARTITION, KTO_PIPELINE, KTO_RECORDS, KTO_TOPIC } from '../src/shared/search-attributes';

const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 20 };

/**
 * Kafka steps any worker may run: a retry after a crash lands on a live worker. Steps
 * heartbeat every second while they run, so `lossTimeout` detects a dead or frozen worker.
 */
const kafkaIo = (lossTimeout: Duration) =>
  proxyActivities<Activities>({ startToCloseTimeout: '30m', heartbeatTimeout: lossTimeout, retry });

/**
 * Steps that need the staging file on the worker that consumed the range. If that worker
 * stops answering, the heartbeat or schedule-to-start timeout fires and the partition
 * re-reads its pinned range on another worker.
 */
const workerLocal = (taskQueue: string, lossTimeout: Duration) =>
  proxyActivities<WorkerLocalActivities>({
    taskQueue,
    startToCloseTimeout: '30m',
    scheduleToStartTimeout: lossTimeout,
    heartbeatTimeout: lossTimeout,
    retry,
  });

const MAX_WORKER_MOVES = 5;

const isWorkerLost = (err: unknown): boolean => err instanceof ActivityFailure && err.cause instanceof TimeoutFailure;

/**
 * One input partition: consume → commit → aggregate → produce. The range is pinned once;
 * every later attempt works on exactly that range, and the produce step lands it at most once.
 */
export async function partition(input: PartitionInput): Promise<PartitionSummary> {
  upsertSearchAttributes([
    { key: KTO_PIPELINE, value: input.pipeline },
    { key: KTO_TOPIC, value: input.topic },
    { key: KTO_PARTITION, value: input.partition },
  ]);
  return runPartition(input, {
    pinned: (range, records) => {
      upsertSearchAttributes([{ key: KTO_RECORDS, value: records }]);
      upsertMemo({ range: { from: range.from, to: range.to }, records });
    },
  });
}

export interface RunPartitionOptions {
  /** Runs once the range is pinned, before the next step is scheduled. */
  pinned?: (range: PinnedRange, records: number) => void;
  /**
   * commit, aggregate and produce as one worker-local activity (`commitAggregateProduce`): two
   * Temporal tasks per partition instead of four, for the small partitions of a group child.
   */
  merged?: boolean;
}

/**
 * The steps of one partition, in the workflow that calls it: a partition's own child, or a group
 * child running several small partitions one after another.
 */
export async function runPartition(input: PartitionInput, { pinned, merged = false }: RunPartitionOptions = {}): Promise<PartitionSummary> {
  const durationsMs = { consume: 0, commit: 0, aggregate: 0, produce: 0 };
  const shared = kafkaIo(input.workerLossTimeout);
  let consumed: ConsumeResult = await shared.consume(input);
  durationsMs.consume += consumed.durationMs;
  const range: PinnedRange = { from: consumed.from, to: consumed.to, firstRun: consumed.firstRun };
  pinned?.(range, consumed.records);
  const summary = { partition: input.partition, from: range.from, to: range.to, records: consumed.records, durationsMs };
  if (consumed.file === null) {
    return { ...summary, status: 'nothing-new', outputRecords: 0, malformed: 0, attempts: 1 };
  }

  // Invariant 3 (docs/design.md): from here on every attempt, on any worker, works on exactly `range`.
  if (!merged) durationsMs.commit = (await shared.commit({ ...input, range })).durationMs;

  for (let attempt = 1; ; attempt++) {
    const local = workerLocal(consumed.workerQueue, input.workerLossTimeout);
    const staged = { ...input, range, file: consumed.file!, records: consumed.records };
    try {
      if (merged) {
        const landed = await local.commitAggregateProduce({ ...staged, ...(consumed.last && { last: consumed.last }) });
        for (const step of ['commit', 'aggregate', 'produce'] as const) durationsMs[step] += landed.durationsMs[step];
        return { ...summary, status: landed.status, outputRecords: landed.outputRecords, malformed: landed.malformed, attempts: attempt };
      }
      const aggregated = await local.aggregate(staged);
      durationsMs.aggregate += aggregated.durationMs;
      const produced = await local.produce({ ...input, range, outputFile: aggregated.outputFile, errorsFile: aggregated.errorsFile, ...(consumed.last && { last: consumed.last }) });
      durationsMs.produce += produced.durationMs;
      return {
        ...summary,
        status: produced.status,
        outputRecords: produced.outputRecords,
        malformed: aggregated.malformed,
        attempts: attempt,
      };
    } catch (err) {
      if (!isWorkerLost(err)) throw err;
      if (attempt >= MAX_WORKER_MOVES) {
        throw ApplicationFailure.create({ message: `partition ${input.partition}: lost ${attempt} workers in a row`, cause: err as Error });
      }
      log.warn('worker holding the staged range stopped answering; re-reading the pinned range on another worker', {
        partition: input.partition,
        workerQueue: consumed.workerQueue,
      });
      consumed = await shared.consume({ ...input, pinned: range, pinnedRecords: summary.records });
      durationsMs.consume += consumed.durationMs;
    }
  }
}
