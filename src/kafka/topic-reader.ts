import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { KafkaAdmin } from './admin';

export interface TopicRecord {
  partition: number;
  offset: bigint;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

export interface ReadTopicOptions {
  topic: string;
  /**
   * Return only the first `limit` records in (partition, offset) order; reading stops at each
   * partition's first `limit` records, so memory stays within partitions × limit. @default no limit
   */
  limit?: number;
  /** Give up waiting for the records up to the high watermarks after this long. @default 30_000 */
  timeoutMs?: number;
}

/**
 * Reads what a `read_committed` consumer sees of a whole topic, from each partition's low
 * watermark to its high watermark at the start of the call. For printing outputs and for
 * checks; it holds the records in memory, so keep it to small topics or pass `limit`.
 * It uses a throw-away consumer group that never commits and is deleted afterwards.
 */
export async function readTopic(kafka: Kafka, admin: KafkaAdmin, options: ReadTopicOptions): Promise<TopicRecord[]> {
  const { topic } = options;
  const limit = options.limit ?? Infinity;
  const watermarks = await admin.watermarks(topic);
  // Aborted records and transaction markers are never delivered, so "done" is judged by position.
  const remaining = new Map(watermarks.filter((w) => w.high > w.low).map((w) => [w.partition, w.high - 1n]));
  const records: TopicRecord[] = [];
  if (remaining.size === 0 || limit <= 0) return records;

  const groupId = `kto-topic-reader.${topic}.${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, maxWaitTimeInMs: 250 });
  let finish!: (err?: unknown) => void;
  const done = new Promise<void>((resolve, reject) => (finish = (err) => (err ? reject(err) : resolve())));
  const perPartition = new Map<number, number>();
  const passed = (partition: number, lastOffset: string) => {
    const last = remaining.get(partition);
    if (last !== undefined && (BigInt(lastOffset) >= last || (perPartition.get(partition) ?? 0) >= limit)) remaining.delete(partition);
    if (remaining.size === 0) finish();
  };
  const timer = setTimeout(
    () => finish(new Error(`reading topic "${topic}" timed out with partitions ${[...remaining.keys()].join(', ')} unfinished`)),
    options.timeoutMs ?? 30_000,
  );

  await consumer.connect();
  try {
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => passed(payload.partition, payload.lastOffset));
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) finish(payload.error);
    });
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const last = remaining.get(batch.partition);
        for (const m of batch.messages) {
          const taken = perPartition.get(batch.partition) ?? 0;
          if (last === undefined || BigInt(m.offset) > last || taken >= limit) break;
          perPartition.set(batch.partition, taken + 1);
          records.push({
            partition: batch.partition,
            offset: BigInt(m.offset),
            key: m.key?.toString('utf8') ?? null,
            value: m.value?.toString('utf8') ?? null,
            headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.map(String).join(',') : String(v ?? '')])),
          });
        }
        passed(batch.partition, batch.lastOffset());
      },
    });
    await done;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroup(groupId);
  }
  records.sort(byPartitionAndOffset);
  return records.slice(0, limit);
}

/** Orders records by partition, then offset. */
export const byPartitionAndOffset = (a: { partition: number; offset: bigint }, b: { partition: number; offset: bigint }): number =>
  a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0);
