import { upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import type { PartitionGroupInput, PartitionGroupResult } from '../src/shared/batch';
import { innermostMessage } from '../src/shared/errors';
import { KTO_PIPELINE, KTO_RECORDS, KTO_TOPIC } from '../src/shared/search-attributes';
import { runPartition } from './partition';

/**
 * Several small partitions of one run, one after another, in one child: a run over many
 * partitions with little to read each spends its time starting and finishing children, not
 * reading records. Each partition runs the steps of its own child (`runPartition`), with commit,
 * aggregate and produce in one activity, under its own transactional id and state record; a
 * failed partition does not stop the others and is reported back to the run, which fails naming it.
 */
export async function partitionGroup(input: PartitionGroupInput): Promise<PartitionGroupResult> {
  const { group, resume = {}, ranges = {}, ...pipeline } = input;
  upsertSearchAttributes([
    { key: KTO_PIPELINE, value: pipeline.pipeline },
    { key: KTO_TOPIC, value: pipeline.topic },
  ]);
  upsertMemo({ partitions: group });
  const result: PartitionGroupResult = { summaries: [], failures: [] };
  for (const p of group) {
    try {
      const own = { partition: p, ...(resume[p] !== undefined && { resume: resume[p] }), ...(ranges[p] !== undefined && { fixedRange: ranges[p] }) };
      result.summaries.push(await runPartition({ ...pipeline, ...own }, { merged: true }));
    } catch (err) {
      result.failures.push({ partition: p, message: innermostMessage(err) });
    }
  }
  const records = result.summaries.reduce((n, s) => n + s.records, 0);
  upsertSearchAttributes([{ key: KTO_RECORDS, value: records }]);
  upsertMemo({ records });
  return result;
}
