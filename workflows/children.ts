import type { PartitionGroupResult, PartitionSummary } from '../src/shared/batch';
import { innermostMessage } from '../src/shared/errors';
import type { FailedPartition } from '../src/shared/run-alert';

export interface ChildStarts {
  /** Runs one partition in a `partition` child of its own. */
  own(partition: number): Promise<PartitionSummary>;
  /** Runs several small partitions in one `partitionGroup` child. */
  group(partitions: number[]): Promise<PartitionGroupResult>;
}

export interface ChildOutcomes {
  summaries: PartitionSummary[];
  failures: FailedPartition[];
  /** Partitions whose child is running (a run's failure alert names them). */
  running?: Set<number>;
}

/**
 * Runs a run's children as `planChildren` laid them out, at most `lanes` at once. A failed child
 * does not stop the others: its partitions join `failures` (a group child reports the failures
 * of its partitions in its result; failing itself, it reported none, so all of them).
 */
export async function runChildren(plan: number[][], lanes: number, start: ChildStarts, out: ChildOutcomes): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < plan.length) {
      const partitions = plan[next++];
      for (const p of partitions) out.running?.add(p);
      try {
        if (partitions.length === 1) {
          out.summaries.push(await start.own(partitions[0]));
        } else {
          const result = await start.group(partitions);
          out.summaries.push(...result.summaries);
          out.failures.push(...result.failures);
        }
      } catch (err) {
        out.failures.push(...partitions.map((partition) => ({ partition, message: innermostMessage(err) })));
      } finally {
        for (const p of partitions) out.running?.delete(p);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(lanes, plan.length) }, lane));
}
