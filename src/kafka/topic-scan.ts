import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { KafkaAdmin, PartitionWatermarks } from './admin';

/** Where a scan starts in each partition. `offsets` names the partitions and their first offsets itself. */
export type ScanStart = 'earliest' | 'latest' | { offset: bigint } | { timestampMs: number } | { offsets: Map<number, bigint> };

export interface ScannedRecord {
  partition: number;
  offset: bigint;
  /** Milliseconds since the epoch (the record's CreateTime or LogAppendTime). */
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
  /** Header values as UTF-8 text; a repeated header's values joined with `,`. */
  headers: Record<string, string>;
}

export interface ScanTopicOptions {
  topic: string;
  /** @default every partition (ignored with `from: { offsets }`) */
  partitions?: number[];
  from: ScanStart;
  /** Keep reading new records after the high watermark seen at the start, until `signal` aborts or `onRecord` says stop. @default false */
  follow?: boolean;
  /** Receives records one at a time, in offset order per partition; returning `false` ends the scan. */
  onRecord: (record: ScannedRecord) => boolean | void | Promise<boolean | void>;
  /** Ends the scan (the records delivered so far stay delivered). */
  signal?: AbortSignal;
}

/** A partition's first offset to read and, without `follow`, its last (the high watermark at the start − 1). */
interface Span {
  partition: number;
  from: bigint;
  to: bigint;
}

const clamp = (offset: bigint, low: bigint, high: bigint): bigint => (offset < low ? low : offset > high ? high : offset);

async function startOffsets(admin: KafkaAdmin, watermarks: PartitionWatermarks[], topic: string, from: ScanStart): Promise<Map<number, bigint>> {
  if (typeof from === 'object' && 'offsets' in from) return from.offsets;
  if (typeof from === 'object' && 'timestampMs' in from) return admin.offsetsForTime(topic, from.timestampMs);
  return new Map(watermarks.map((w) => [w.partition, from === 'earliest' ? w.low : from === 'latest' ? w.high : clamp(from.offset, w.low, w.high)]));
}

/**
 * Reads a topic the way a `read_committed` consumer sees it, from a chosen start per partition,
 * up to the high watermarks seen at the start or (`follow`) until stopped. For operators' tools
 * (`kto topics tail`, `kto dlq`): it never touches a consumer group of anyone else's. kafkajs
 * has no manual assignment, so it joins a throw-away group of its own that never commits, pauses
 * the partitions it does not read, and deletes the group afterwards. Aborted records and
 * transaction markers are never delivered; the end is judged by the fetch position.
 */
export async function scanTopic(kafka: Kafka, admin: KafkaAdmin, options: ScanTopicOptions): Promise<void> {
  const { topic, follow = false } = options;
  const watermarks = await admin.watermarks(topic);
  const chosen = new Set(options.partitions ?? watermarks.map((w) => w.partition));
  const starts = await startOffsets(admin, watermarks, topic, options.from);
  const spans: Span[] = watermarks
    .filter((w) => starts.has(w.partition) && (typeof options.from === 'object' && 'offsets' in options.from ? true : chosen.has(w.partition)))
    .map((w) => ({ partition: w.partition, from: clamp(starts.get(w.partition)!, w.low, w.high), to: w.high - 1n }));
  const open = new Map(spans.filter((s) => follow || s.from <= s.to).map((s) => [s.partition, s]));
  if (open.size === 0 || options.signal?.aborted) return;

  const groupId = `kto-scan.${topic}.${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, maxWaitTimeInMs: 250, maxBytesPerPartition: 1024 * 1024 });
  let finished = false;
  let settle!: { resolve: () => void; reject: (err: unknown) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  const finish = (err?: unknown) => {
    if (finished) return;
    finished = true;
    if (err) settle.reject(err);
    else settle.resolve();
  };
  const passed = (partition: number, lastOffset: string) => {
    const span = open.get(partition);
    if (!follow && span && BigInt(lastOffset) >= span.to) open.delete(partition);
    if (!follow && open.size === 0) finish();
  };
  const onAbort = () => finish();
  options.signal?.addEventListener('abort', onAbort);

  await consumer.connect();
  try {
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => passed(payload.partition, payload.lastOffset));
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) finish(payload.error);
    });
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        const span = open.get(batch.partition);
        if (finished || !span) return;
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          if (offset < span.from) continue;
          if (finished || (!follow && offset > span.to)) break;
          const record: ScannedRecord = {
            partition: batch.partition,
            offset,
            timestampMs: Number(m.timestamp),
            key: m.key ?? null,
            value: m.value ?? null,
            headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.map(String).join(',') : String(v ?? '')])),
          };
          try {
            if ((await options.onRecord(record)) === false) finish();
          } catch (err) {
            finish(err);
          }
        }
        // Nothing commits, so only this moves the fetch position past the batch.
        resolveOffset(batch.lastOffset());
        passed(batch.partition, batch.lastOffset());
      },
    });
    const others = (await admin.partitions(topic)).filter((p) => !open.has(p));
    for (const span of open.values()) consumer.seek({ topic, partition: span.partition, offset: span.from.toString() });
    if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
    await done;
  } finally {
    finish();
    options.signal?.removeEventListener('abort', onAbort);
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroup(groupId);
  }
}
