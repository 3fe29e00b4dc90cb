import type { Duration } from '@temporalio/common';
import type { AggregationSpecInput } from '../aggregate/spec';
import type { FailedPartition } from './run-alert';

/**
 * The contract between the batch workflows and their activities. Pure types and helpers:
 * workflows import this file, so it must not touch Node or I/O.
 * Offsets travel as decimal strings (JSON has no 64-bit integers).
 */

export interface BatchPipelineOptions {
  /**
   * Names the pipeline in workflow ids, transactional ids and logs.
   * @default `${topic}.${groupId}`
   */
  pipeline?: string;
  topic: string;
  outputTopic: string;
  /** Consumer group whose committed offsets are the pipeline's progress. */
  groupId: string;
  /** Malformed input records go here with the reason. @default `${topic}.errors` */
  errorTopic?: string;
  /** What to compute per partition. @default daily mean of `voltage` by `datetime` */
  aggregation?: AggregationSpecInput;
  /**
   * Name of the registered pipeline whose processor module runs instead of the aggregation.
   * Each worker resolves it in its own project config, so no file path travels in the workflow.
   */
  processor?: string;
  /** Given to the processor: a factory's argument and `ctx.options` (any JSON value). */
  processorOptions?: unknown;
  /** Where a partition with no committed offset starts. @default 'earliest' */
  startFrom?: 'earliest' | 'latest';
  /**
   * The most offsets one run pins per partition; later records wait for the next run. Bounds the
   * size of one output transaction (a backlog or a burst of malformed records). @default no bound
   */
  maxRecordsPerRun?: number;
  /**
   * How long the broker lets one output transaction stay open before it aborts it; at most the
   * broker's `transaction.max.timeout.ms` (15 minutes by default). @default '2m'
   */
  transactionTimeout?: Duration;
  /** Children running at once; bounds pending children and worker load. @default 64 */
  maxConcurrentPartitions?: number;
  /**
   * How long a step may wait on a worker that stopped answering before the partition moves to
   * another worker (heartbeat and schedule-to-start timeout of the worker-local steps).
   * @default '30s'
   */
  workerLossTimeout?: Duration;
  /** Only these input partitions take part in the run (`kto batch rerun --failed-only`). @default all */
  partitions?: number[];
  /**
   * Who gets the alert email when a run fails or times out (one email per run).
   * @default the worker's KTO_ALERT_EMAIL; no alert when that is unset too
   */
  onFailure?: OnFailure;
}

/** What a failed or timed-out batch run does besides failing. */
export interface OnFailure {
  /** Recipients of the run's alert email. */
  email: string[];
}

export type BatchPipeline = Required<Omit<BatchPipelineOptions, 'aggregation' | 'processor' | 'processorOptions' | 'maxRecordsPerRun' | 'transactionTimeout' | 'partitions' | 'onFailure'>> & {
  partitions?: number[];
  aggregation: AggregationSpecInput;
  processor?: string;
  processorOptions?: unknown;
  maxRecordsPerRun?: number;
  transactionTimeout?: Duration;
  onFailure?: OnFailure;
};

/** Fills every default of a batch pipeline in one place. */
export function batchPipelineWithDefaults(options: BatchPipelineOptions): BatchPipeline {
  return {
    pipeline: options.pipeline ?? `${options.topic}.${options.groupId}`,
    topic: options.topic,
    outputTopic: options.outputTopic,
    groupId: options.groupId,
    errorTopic: options.errorTopic ?? `${options.topic}.errors`,
    aggregation: options.aggregation ?? {},
    ...(options.processor !== undefined && { processor: options.processor }),
    ...(options.processorOptions !== undefined && { processorOptions: options.processorOptions }),
    startFrom: options.startFrom ?? 'earliest',
    ...(options.maxRecordsPerRun !== undefined && { maxRecordsPerRun: options.maxRecordsPerRun }),
    ...(options.transactionTimeout !== undefined && { transactionTimeout: options.transactionTimeout }),
    maxConcurrentPartitions: options.maxConcurrentPartitions ?? 64,
    workerLossTimeout: options.workerLossTimeout ?? '30s',
    ...(options.partitions !== undefined && { partitions: options.partitions }),
    ...(options.onFailure !== undefined && { onFailure: options.onFailure }),
  };
}

export const batchWorkflowId = (pipeline: string): string => `kto-batch-${pipeline}`;
export const partitionWorkflowId = (pipeline: string, partition: number): string => `kto-batch-${pipeline}-p${partition}`;
/** A group child's id names its first and last partition (its memo lists them all). */
const groupSuffix = (group: number[]): string => `p${group[0]}-p${group[group.length - 1]}`;
export const partitionGroupWorkflowId = (pipeline: string, group: number[]): string => `kto-batch-${pipeline}-${groupSuffix(group)}`;
/**
 * Keyed on what the pipeline's progress is (the group's offset in one input partition), not on
 * the pipeline's name: any two runs over the same group and partition fence each other
 * (invariants 2 and 3, docs/design.md).
 */
export const transactionalId = (p: { groupId: string; topic: string; partition: number }): string => `kto-batch.${p.groupId}.${p.topic}.${p.partition}`;
/** Key of a partition's records in the batch state topic; like the transactional id, keyed on the group. */
export const batchStateKey = (p: { groupId: string; topic: string; partition: number }): string => `${p.groupId}/${p.topic}/${p.partition}`;

export interface PartitionInput extends BatchPipeline {
  partition: number;
  /**
   * A backfill's range [from, to] of the partition instead of the group's next range; the group
   * is then the backfill's own (`backfillGroupId`), whose offset marks the range as landed.
   */
  fixedRange?: { from: string; to: string };
  /** Written into every output record's `kto-backfill-id` header. */
  backfillId?: string;
  /**
   * Where the partition goes on if its group has no offset, as the run's listing read it from
   * kto's state record (null: no record), so the child does not read the state topic again.
   * Absent: the child reads it.
   */
  resume?: ResumePoint | null;
}

/** A partition's next offset from kto's state record, with the last record before it when known. */
export interface ResumePoint {
  offset: string;
  last?: RecordMark;
}

/** What a run's listing found: the partitions, those with something to do, and where each of those without a group offset goes on. */
export interface PartitionListing {
  partitions: number[];
  pending: number[];
  /** Pending partitions whose group has no offset, by partition: their state record's resume point, or null. */
  resume?: Record<number, ResumePoint | null>;
  /** Offsets each pending partition has to read in this run, at most `maxRecordsPerRun` (an upper bound: transaction markers take offsets too). */
  backlog?: Record<number, number>;
}

/** Several small partitions of one run in one child (workflows/partition-group.ts). */
export interface PartitionGroupInput extends BatchPipeline {
  group: number[];
  /** As `PartitionListing.resume`, for the group's partitions. */
  resume?: Record<number, ResumePoint | null>;
  /** A backfill's range of each partition (`PartitionInput.fixedRange`). */
  ranges?: Record<number, { from: string; to: string }>;
  /** A backfill's id (`PartitionInput.backfillId`). */
  backfillId?: string;
}

export interface PartitionGroupResult {
  summaries: PartitionSummary[];
  failures: FailedPartition[];
}

/** A partition with at most this many offsets to read may share a child with others. */
export const SMALL_PARTITION_OFFSETS = 10_000;
/** The most partitions one group child runs: bounds its history. */
export const MAX_GROUP_PARTITIONS = 64;

/**
 * The children of a run: one per partition, unless the run has more pending partitions than it
 * runs children at once. Then the small partitions (see SMALL_PARTITION_OFFSETS) share children,
 * as few partitions to a child as lets every child start at once, and the others keep their own,
 * started first. Pure: the workflow plans from its listing's result.
 */
export function planChildren(pending: number[], backlog: Record<number, number> | undefined, maxConcurrent: number): number[][] {
  const own = (ps: number[]) => ps.map((p) => [p]);
  if (backlog === undefined || pending.length <= maxConcurrent) return own(pending);
  const isSmall = (p: number) => (backlog[p] ?? Infinity) <= SMALL_PARTITION_OFFSETS;
  const small = pending.filter(isSmall);
  const large = pending.filter((p) => !isSmall(p));
  const size = Math.min(MAX_GROUP_PARTITIONS, Math.ceil(small.length / Math.max(1, maxConcurrent - large.length)));
  if (size <= 1) return own(pending);
  const groups: number[][] = [];
  for (let i = 0; i < small.length; i += size) groups.push(small.slice(i, i + size));
  return [...own(large), ...groups];
}

/** A backfill's own consumer group: its offsets, transactional ids and state keys never touch the live group's. */
export const backfillGroupId = (pipeline: string, id: string): string => `kto-backfill.${pipeline}.${id}`;
export const backfillWorkflowId = (pipeline: string, id: string): string => `kto-backfill-${pipeline}-${id}`;
export const backfillPartitionWorkflowId = (pipeline: string, id: string, partition: number): string => `${backfillWorkflowId(pipeline, id)}-p${partition}`;
export const backfillPartitionGroupWorkflowId = (pipeline: string, id: string, group: number[]): string => `${backfillWorkflowId(pipeline, id)}-${groupSuffix(group)}`;

/** A backfill: reprocess the input records between two times or offsets into the pipeline's output. */
export interface BackfillInput {
  pipeline: BatchPipelineOptions;
  /** Names the backfill: the same id lands its range at most once. */
  id: string;
  /** An ISO time (first record with a timestamp at or after it) or an offset (inclusive), per partition. */
  from: string;
  /** An ISO time (last record with a timestamp before it) or an offset (exclusive), per partition. */
  to: string;
}

/** A partition's backfill range [from, to]; empty when `from > to`. */
export interface BackfillRange {
  partition: number;
  from: string;
  to: string;
}

export interface BackfillReport extends BatchReport {
  backfillId: string;
  ranges: BackfillRange[];
}

export interface PinnedRange {
  from: string;
  to: string;
  /** The group had no committed offset for the partition when the range was pinned. */
  firstRun: boolean;
}

export interface ConsumeInput extends PartitionInput {
  /** Re-read exactly this range (a retry on another worker); otherwise pin a new one. */
  pinned?: PinnedRange;
  /** Records the first read of the pinned range delivered: a re-read must deliver as many. */
  pinnedRecords?: number;
}

/**
 * The last record of a range: stored with the committed offset, it lets the next run check that
 * the partition still holds the same record there (a deleted and recreated topic does not).
 */
export interface RecordMark {
  offset: string;
  timestamp: string;
}

export interface ConsumeResult extends PinnedRange {
  records: number;
  /** The last record read; absent when the range held none. */
  last?: RecordMark;
  /** Worker-local staging file with the raw records; null when there was nothing new. */
  file: string | null;
  /** Task queue of the worker holding the staging file: the next steps run there. */
  workerQueue: string;
  durationMs: number;
}

export interface AggregateInput extends PartitionInput {
  range: PinnedRange;
  file: string;
  /** Records staged in the file: accepted plus rejected must add up to it. */
  records?: number;
}

export interface AggregateResult {
  groups: number;
  accepted: number;
  malformed: number;
  outputFile: string;
  errorsFile: string;
  durationMs: number;
}

export interface ProduceInput extends PartitionInput {
  range: PinnedRange;
  outputFile: string;
  errorsFile: string;
  /** Stored with the committed offset for the next run's check. */
  last?: RecordMark;
}

export interface ProduceResult {
  status: 'committed' | 'already-committed';
  outputRecords: number;
  errorRecords: number;
  durationMs: number;
}

/** What `commitAggregateProduce` did: the three steps' results in one. */
export interface LandRangeResult {
  status: ProduceResult['status'];
  outputRecords: number;
  malformed: number;
  durationsMs: { commit: number; aggregate: number; produce: number };
}

export interface PartitionSummary {
  partition: number;
  status: 'nothing-new' | 'committed' | 'already-committed';
  from: string;
  to: string;
  records: number;
  outputRecords: number;
  malformed: number;
  /** Attempts at the worker-local steps (more than one after a worker was lost). */
  attempts: number;
  durationsMs: { consume: number; commit: number; aggregate: number; produce: number };
}

export interface BatchReport {
  pipeline: string;
  topic: string;
  outputTopic: string;
  partitions: number;
  recordsIn: number;
  recordsOut: number;
  malformed: number;
  /** Sum over partitions of each step's duration. */
  stepMs: { consume: number; commit: number; aggregate: number; produce: number };
  /**
   * At most {@link REPORTED_PARTITIONS} partitions, in partition order, those that read records
   * first: the result stays small however many partitions the topic has. Every partition's
   * summary is also the result of its own child workflow (`kto-batch-<pipeline>-p<n>`).
   */
  partitionSummaries: PartitionSummary[];
  /** Partitions left out of `partitionSummaries`. */
  partitionsNotListed?: number;
}

export const REPORTED_PARTITIONS = 64;

/** Output record headers: pipeline, source partition and input offset range, for checkers. */
export const OUTPUT_HEADERS = {
  pipeline: 'kto-pipeline',
  sourceTopic: 'kto-source-topic',
  sourcePartition: 'kto-source-partition',
  offsetFrom: 'kto-offset-from',
  offsetTo: 'kto-offset-to',
  reason: 'kto-error-reason',
  sourceOffset: 'kto-source-offset',
  backfillId: 'kto-backfill-id',
} as const;
