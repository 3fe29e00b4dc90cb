import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { KtoError } from '../runtime/errors';
import type { KafkaAdmin } from './admin';

export interface RangeRecord {
  /** Decimal, as the client library decodes it. */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  /** Milliseconds since the epoch, decimal. */
  timestamp: string;
}

export interface ReadRangeOptions {
  topic: string;
  partition: number;
  /** First offset to deliver (inclusive). */
  from: bigint;
  /** Last offset to deliver (inclusive); usually the high watermark seen at start minus one. */
  to: bigint;
  /**
   * A record the partition must still hold, at or before `from`: reading starts there, and
   * finding another record (or none) at that offset fails the read with `PartitionReplacedError`.
   */
  expect?: { offset: bigint; timestamp: string };
  /** Receives records in offset order, one fetch batch at a time; awaited before the next batch. */
  onRecords: (records: RangeRecord[]) => Promise<void>;
  /** Called after each batch, e.g. to heartbeat. */
  onProgress?: (lastOffset: bigint, records: number) => void;
}

/**
 * Reads exactly the offsets [from, to] of one partition with read_committed isolation.
 *
 * kafkajs has no manual partition assignment, so the reader joins a throw-away consumer
 * group of its own, pauses every other partition, seeks to `from` and stops once the
 * fetch position passes `to`. The group never commits and is deleted afterwards, so the
 * pipeline's own consumer group is untouched. Offsets that hold transaction markers or
 * aborted records are never delivered; the reader still sees the position move past them.
 */
export async function readRange(kafka: Kafka, admin: KafkaAdmin, options: ReadRangeOptions): Promise<{ records: number }> {
  const { topic, partition, from, to, expect } = options;
  if (from > to) return { records: 0 };
  const start = expect && expect.offset < from ? expect.offset : from;
  let checked = expect === undefined;
  const groupId = `kto-reader.${topic}.${partition}.${randomUUID()}`;
  const others = (await admin.partitions(topic)).filter((p) => p !== partition);
  const consumer = kafka.consumer({
    groupId,
    readUncommitted: false,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: 1024 * 1024,
    maxBytes: 1024 * 1024,
    maxWaitTimeInMs: 250,
    sessionTimeout: 30_000,
    heartbeatInterval: 3_000,
  });

  let records = 0;
  let finished = false;
  let settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  const finish = (err?: unknown) => {
    if (finished) return;
    finished = true;
    if (err) settle!.reject(err);
    else settle!.resolve();
  };

  await consumer.connect();
  try {
    // Batches made only of transaction markers or aborted records never reach eachBatch.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.topic === topic && payload.partition === partition && BigInt(payload.lastOffset) >= to) finish();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) finish(payload.error);
    });
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat, resolveOffset }) => {
        if (finished || batch.partition !== partition) return;
        // Offsets are compared per record only in a batch that crosses an end of the range.
        const { messages } = batch;
        if (!checked && messages.length > 0) {
          checked = true;
          const first = messages[0];
          if (BigInt(first.offset) !== expect!.offset || first.timestamp !== expect!.timestamp) {
            finish(new PartitionReplacedError(topic, partition, expect!, { offset: first.offset, timestamp: first.timestamp }));
            return;
          }
        }
        const inside = messages.length > 0 && BigInt(messages[0].offset) >= from && BigInt(messages[messages.length - 1].offset) <= to;
        const chunk: RangeRecord[] = inside
          ? messages
          : messages.filter((m) => {
              const offset = BigInt(m.offset);
              return offset >= from && offset <= to;
            });
        try {
          if (chunk.length > 0) await options.onRecords(chunk);
        } catch (err) {
          finish(err);
          return;
        }
        records += chunk.length;
        // Auto-resolve is off and nothing commits, so only this moves the fetch position: without
        // it every fetch after the first starts at `from` again and a range larger than one fetch never ends.
        resolveOffset(batch.lastOffset());
        const last = BigInt(batch.lastOffset());
        options.onProgress?.(last, records);
        if (last >= to) finish();
        else await heartbeat();
      },
    });
    consumer.seek({ topic, partition, offset: start.toString() });
    if (others.length > 0) consumer.pause([{ topic, partitions: others }]);
    await done;
    return { records };
  } finally {
    finish();
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroup(groupId);
  }
}

/** The record kto last read in a partition is gone or another one: the topic was deleted and recreated, or truncated. */
export class PartitionReplacedError extends KtoError {
  constructor(topic: string, partition: number, expected: { offset: bigint; timestamp: string }, found: { offset: string; timestamp: string }) {
    super(
      `partition ${partition} of "${topic}" no longer holds the record the pipeline last read (offset ${expected.offset}, timestamp ${expected.timestamp}; ` +
        `found offset ${found.offset}, timestamp ${found.timestamp}): the topic was deleted and recreated, or truncated, and the group's offset points into other records.`,
      { type: 'PartitionReplaced' },
    );
    this.name = 'PartitionReplacedError';
  }
}
