import { executeChild, patched, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  backfillGroupId,
  backfillPartitionGroupWorkflowId,
  backfillPartitionWorkflowId,
  batchPipelineWithDefaults,
  planChildren,
  type BackfillInput,
  type BackfillReport,
  type PartitionSummary,
} from '../src/shared/batch';
import { KTO_PIPELINE, KTO_TOPIC } from '../src/shared/search-attributes';
import { nothingNew, partitionsFailed, reportOf } from './batch';
import { runChildren } from './children';
import { partition } from './partition';
import { partitionGroup } from './partition-group';
import type { FailedPartition } from '../src/shared/run-alert';

const admin = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
});

/**
 * Reprocesses a range of the input into the pipeline's output as a run of its own: the same
 * `partition` child per partition (or group child of small ranges, as a batch run), on a fixed
 * range and under the backfill's own group, so the live group's offsets never move and the
 * group's offset marks what this backfill id landed.
 */
export async function backfill(input: BackfillInput): Promise<BackfillReport> {
  const pipeline = batchPipelineWithDefaults(input.pipeline);
  upsertSearchAttributes([
    { key: KTO_PIPELINE, value: pipeline.pipeline },
    { key: KTO_TOPIC, value: pipeline.topic },
  ]);
  const ranges = await admin.backfillRanges({ pipeline, from: input.from, to: input.to });
  const pending = ranges.filter((r) => BigInt(r.from) <= BigInt(r.to));
  const groupId = backfillGroupId(pipeline.pipeline, input.id);
  const summaries: PartitionSummary[] = ranges.filter((r) => !pending.includes(r)).map((r) => nothingNew(r.partition));
  const failures: FailedPartition[] = [];
  const rangeOf = new Map(pending.map((r) => [r.partition, { from: r.from, to: r.to }]));
  const backlog = Object.fromEntries(pending.map((r) => [r.partition, Number(BigInt(r.to) - BigInt(r.from) + 1n)]));
  // Backfills started before partition groups plan one child per partition.
  const plan = planChildren([...rangeOf.keys()], patched('kto-partition-groups') ? backlog : undefined, pipeline.maxConcurrentPartitions);
  await runChildren(
    plan,
    pipeline.maxConcurrentPartitions,
    {
      own: (p) =>
        executeChild(partition, {
          workflowId: backfillPartitionWorkflowId(pipeline.pipeline, input.id, p),
          args: [{ ...pipeline, groupId, partition: p, fixedRange: rangeOf.get(p)!, backfillId: input.id }],
        }),
      group: (group) =>
        executeChild(partitionGroup, {
          workflowId: backfillPartitionGroupWorkflowId(pipeline.pipeline, input.id, group),
          args: [{ ...pipeline, groupId, group, ranges: Object.fromEntries(group.map((p) => [p, rangeOf.get(p)!])), backfillId: input.id }],
        }),
    },
    { summaries, failures },
  );
  if (failures.length > 0) throw partitionsFailed(failures, ranges.length);
  return {
    ...reportOf(pipeline, ranges.length, summaries),
    backfillId: input.id,
    ranges,
  };
}
