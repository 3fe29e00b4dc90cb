import {
  ApplicationFailure,
  defineQuery,
  executeChild,
  ParentClosePolicy,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  upsertMemo,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import {
  batchPipelineWithDefaults,
  batchWorkflowId,
  partitionGroupWorkflowId,
  partitionWorkflowId,
  planChildren,
  REPORTED_PARTITIONS,
  type BatchPipeline,
  type BatchPipelineOptions,
  type BatchReport,
  type PartitionSummary,
} from '../src/shared/batch';
import { KTO_PIPELINE, KTO_RECORDS, KTO_TOPIC } from '../src/shared/search-attributes';
import { runChildren } from './children';
import { partition } from './partition';
import { partitionGroup } from './partition-group';
import { alertingOnFailure, type RunTracker } from './run-alert';
import type { FailedPartition } from '../src/shared/run-alert';

const admin = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
});

export interface BatchProgress {
  partitions: number;
  done: number;
  failed: number;
  recordsIn: number;
  recordsOut: number;
}

export const batchProgressQuery = defineQuery<BatchProgress>('batchProgress');

/**
 * The daily batch: lists the input partitions and runs one child workflow per partition,
 * at most `maxConcurrentPartitions` at once. A failed partition does not stop the others;
 * the run fails at the end naming them, and their ranges are picked up by the next run.
 */
export async function batch(options: BatchPipelineOptions): Promise<BatchReport> {
  // Runs started before failure alerts replay without the deadline timer and the alert.
  if (!patched('kto-failure-alerts')) return runPartitions(options);
  return alertingOnFailure(batchPipelineWithDefaults(options), (tracker) => runPartitions(options, tracker));
}

async function runPartitions(options: BatchPipelineOptions, tracker: RunTracker = { running: new Set(), failed: [] }): Promise<BatchReport> {
  const pipeline = batchPipelineWithDefaults(options);
  upsertSearchAttributes([
    { key: KTO_PIPELINE, value: pipeline.pipeline },
    { key: KTO_TOPIC, value: pipeline.topic },
  ]);
  const { partitions, pending, resume = {}, backlog } = await admin.listPartitions(pipeline);
  const summaries: PartitionSummary[] = [];
  const failures = tracker.failed;
  setHandler(batchProgressQuery, () => ({
    partitions: partitions.length,
    done: summaries.length,
    failed: failures.length,
    recordsIn: summaries.reduce((n, s) => n + s.records, 0),
    recordsOut: summaries.reduce((n, s) => n + s.outputRecords, 0),
  }));

  // Runs listed before partition groups have no backlog in their listing, and plan one child per partition.
  const plan = planChildren(pending, backlog && patched('kto-partition-groups') ? backlog : undefined, pipeline.maxConcurrentPartitions);
  const resumeOf = (p: number) => (resume[p] !== undefined ? { resume: resume[p] } : {});
  await runChildren(
    plan,
    pipeline.maxConcurrentPartitions,
    {
      own: (p) => executeChild(partition, { workflowId: partitionWorkflowId(pipeline.pipeline, p), args: [{ ...pipeline, partition: p, ...resumeOf(p) }] }),
      group: (group) =>
        executeChild(partitionGroup, {
          workflowId: partitionGroupWorkflowId(pipeline.pipeline, group),
          args: [{ ...pipeline, group, resume: Object.fromEntries(group.flatMap((p) => (resume[p] !== undefined ? [[p, resume[p]]] : []))) }],
        }),
    },
    { summaries, failures, running: tracker.running },
  );

  // New output is new output even when other partitions failed: the downstreams run over it.
  if (summaries.some((s) => s.status === 'committed') && patched('kto-after-upstreams')) await startDownstreams(pipeline.pipeline);
  if (failures.length > 0) throw partitionsFailed(failures, partitions.length);
  const idle = partitions.filter((p) => !pending.includes(p));
  const report = reportOf(pipeline, partitions.length, [...summaries, ...idle.map((p) => nothingNew(p))]);
  upsertSearchAttributes([{ key: KTO_RECORDS, value: report.recordsIn }]);
  upsertMemo({ recordsIn: report.recordsIn, recordsOut: report.recordsOut, malformed: report.malformed });
  return report;
}

/** The failure of a run in which some partitions failed; its details list them (`kto batch rerun --failed-only` reads them). */
export function partitionsFailed(failures: FailedPartition[], partitions: number): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'PartitionsFailed',
    message: `${failures.length} of ${partitions} partitions failed: ${failures.map((f) => `p${f.partition}: ${f.message}`).join('; ')}`,
    details: [failures],
  });
}

/** A run's report: the sums over its partitions' summaries and up to REPORTED_PARTITIONS of them, in partition order. */
export function reportOf(pipeline: BatchPipeline, partitions: number, summaries: PartitionSummary[]): BatchReport {
  const byPartition = (a: PartitionSummary, b: PartitionSummary) => a.partition - b.partition;
  const sorted = [...summaries].sort(byPartition);
  const listed = [...sorted.filter((s) => s.status !== 'nothing-new'), ...sorted.filter((s) => s.status === 'nothing-new')].slice(0, REPORTED_PARTITIONS).sort(byPartition);
  const sum = (pick: (s: PartitionSummary) => number) => sorted.reduce((n, s) => n + pick(s), 0);
  return {
    pipeline: pipeline.pipeline,
    topic: pipeline.topic,
    outputTopic: pipeline.outputTopic,
    partitions,
    recordsIn: sum((s) => s.records),
    recordsOut: sum((s) => s.outputRecords),
    malformed: sum((s) => s.malformed),
    stepMs: {
      consume: sum((s) => s.durationsMs.consume),
      commit: sum((s) => s.durationsMs.commit),
      aggregate: sum((s) => s.durationsMs.aggregate),
      produce: sum((s) => s.durationsMs.produce),
    },
    partitionSummaries: listed,
    ...(listed.length < sorted.length && { partitionsNotListed: sorted.length - listed.length }),
  };
}

/** How long a downstream start waits for the downstream's own run in flight to finish before trying again. */
const DOWNSTREAM_RETRY = '10s';

/**
 * Data-aware scheduling (`after: [upstream]`): a run that committed new output starts one run of
 * each pipeline declared after it. A downstream run still in flight may have pinned its ranges
 * before this output landed, so the start waits for it to finish instead of being dropped.
 */
async function startDownstreams(upstream: string): Promise<void> {
  const downstreams = await admin.downstreamPipelines(upstream);
  await Promise.all(
    downstreams.map(async (options) => {
      for (;;) {
        try {
          await startChild(batch, { workflowId: batchWorkflowId(options.pipeline!), args: [options], parentClosePolicy: ParentClosePolicy.ABANDON });
          return;
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          await sleep(DOWNSTREAM_RETRY);
        }
      }
    }),
  );
}

export function nothingNew(partition: number): PartitionSummary {
  return {
    partition,
    status: 'nothing-new',
    from: '',
    to: '',
    records: 0,
    outputRecords: 0,
    malformed: 0,
    attempts: 0,
    durationsMs: { consume: 0, commit: 0, aggregate: 0, produce: 0 },
  };
}
