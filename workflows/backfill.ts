import { executeChild, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  backfillGroupId,
  backfillPartitionWorkflowId,
  batchPipelineWithDefaults,
  type BackfillInput,
  type BackfillReport,
  type PartitionSummary,
} from '../src/shared/batch';
import { KTO_PIPELINE, KTO_TOPIC } from '../src/shared/search-attributes';
import { innermostMessage } from '../src/shared/errors';
import { nothingNew, partitionsFailed, reportOf } from './batch';
import { partition } from './partition';

const admin = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
});

/**
 * Reprocesses a range of the input into the pipeline's output as a run of its own: the same
 * `partition` child per partition, on a fixed range and under the backfill's own group, so the
 * live group's offsets never move and the group's offset marks what this backfill id landed.
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
  const failures: { partition: number; message: string }[] = [];

  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < pending.length) {
      const r = pending[next++];
      try {
        summaries.push(
          await executeChild(partition, {
            workflowId: backfillPartitionWorkflowId(pipeline.pipeline, input.id, r.partition),
            args: [{ ...pipeline, groupId, partition: r.partition, fixedRange: { from: r.from, to: r.to }, backfillId: input.id }],
          }),
        );
      } catch (err) {
        failures.push({ partition: r.partition, message: innermostMessage(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(pipeline.maxConcurrentPartitions, pending.length) }, lane));
  if (failures.length > 0) throw partitionsFailed(failures, ranges.length);
  return {
    ...reportOf(pipeline, ranges.length, summaries),
    backfillId: input.id,
    ranges,
  };
}
