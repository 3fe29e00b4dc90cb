import { ApplicationFailure, executeChild, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
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
import { nothingNew, rootMessage } from './batch';
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
        failures.push({ partition: r.partition, message: rootMessage(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(pipeline.maxConcurrentPartitions, pending.length) }, lane));
  if (failures.length > 0) {
    throw ApplicationFailure.create({
      type: 'PartitionsFailed',
      message: `${failures.length} of ${ranges.length} partitions failed: ${failures.map((f) => `p${f.partition}: ${f.message}`).join('; ')}`,
      details: [failures],
    });
  }
  summaries.sort((a, b) => a.partition - b.partition);
  const sum = (pick: (s: PartitionSummary) => number) => summaries.reduce((n, s) => n + pick(s), 0);
  return {
    pipeline: pipeline.pipeline,
    topic: pipeline.topic,
    outputTopic: pipeline.outputTopic,
    partitions: ranges.length,
    recordsIn: sum((s) => s.records),
    recordsOut: sum((s) => s.outputRecords),
    malformed: sum((s) => s.malformed),
    stepMs: {
      consume: sum((s) => s.durationsMs.consume),
      commit: sum((s) => s.durationsMs.commit),
      aggregate: sum((s) => s.durationsMs.aggregate),
      produce: sum((s) => s.durationsMs.produce),
    },
    partitionSummaries: summaries,
    backfillId: input.id,
    ranges,
  };
}
