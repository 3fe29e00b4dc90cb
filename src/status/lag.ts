import type { KafkaAdmin } from '../kafka';

/**
 * A consumer group's lag on one topic, read the way kafka-consumer-groups reads it: the
 * committed offset per partition (a stable read, see src/kafka/offset-fetch.ts) against the
 * partition's high watermark. `kto status` and the worker's `kto_consumer_lag_records` gauge
 * both read lag here, so the two always agree.
 */

export interface PartitionLag {
  partition: number;
  /** The group's committed offset (the next offset it will read); null when it has none. */
  committed: number | null;
  /** First offset still in the log. */
  low: number;
  /** Offset the next record will get. */
  high: number;
  /**
   * `high - committed`; without a committed offset, `high - low` (every record still in the
   * log is unread; kafka-consumer-groups prints `-` there).
   */
  lag: number;
}

export interface GroupLag {
  groupId: string;
  topic: string;
  partitions: PartitionLag[];
  /** Sum of the partitions' lag. */
  total: number;
}

/** Offsets fit a JS number far beyond any real log; JSON and the console want numbers. */
const num = (offset: bigint): number => Number(offset);

export function lagOf(committed: bigint | null, low: bigint, high: bigint): number {
  const from = committed ?? low;
  return from >= high ? 0 : num(high - from);
}

/** The group's lag on `topic`, per partition in partition order. Throws TopicNotFoundError for a missing topic. */
export async function readGroupLag(admin: Pick<KafkaAdmin, 'watermarks' | 'committedOffsets'>, groupId: string, topic: string): Promise<GroupLag> {
  // One after the other, the committed offsets first (as kafka-consumer-groups reads them): they
  // fail at once for a missing topic, where a watermark read in parallel would go on retrying
  // after the caller gave up and closed the admin.
  const committed = await admin.committedOffsets(groupId, topic);
  const watermarks = await admin.watermarks(topic);
  const partitions = watermarks.map((w) => {
    const offset = committed.get(w.partition) ?? null;
    return { partition: w.partition, committed: offset === null ? null : num(offset), low: num(w.low), high: num(w.high), lag: lagOf(offset, w.low, w.high) };
  });
  return { groupId, topic, partitions, total: partitions.reduce((n, p) => n + p.lag, 0) };
}
