import { KtoError } from '../runtime/errors';
import type { IHeaders, Kafka, Producer } from 'kafkajs';
import type { KafkaAdmin } from './admin';
import { chunkRecords } from './chunk';

export interface OutboundRecord {
  topic: string;
  partition: number;
  key: string | Buffer | null;
  value: string | Buffer | null;
  headers?: IHeaders;
}

export interface RangeCommitOptions {
  /** Stable per pipeline + partition: a new attempt fences every older one. */
  transactionalId: string;
  groupId: string;
  topic: string;
  partition: number;
  /** The pinned input range [from, to]; the group offset moves from `from` to `to + 1`. */
  from: bigint;
  to: bigint;
  /** True when the group had no committed offset for this partition when the range was pinned. */
  firstRun: boolean;
  /** Output of the range, streamed into the transaction. */
  records: () => AsyncIterable<OutboundRecord>;
  onProgress?: (produced: number) => void;
}

export type RangeCommitResult = { status: 'committed'; produced: number } | { status: 'already-committed'; produced: 0 };

/** The group offset is neither where the range starts nor where it ends: someone else moved it. */
export class OffsetConflictError extends KtoError {
  constructor(
    readonly expected: { from: bigint; to: bigint },
    readonly found: bigint | null,
  ) {
    super(
      `consumer group offset is ${found ?? 'not set'}, expected ${expected.from} (range not yet written) or ${expected.to + 1n} (already written). ` +
        'Another process moved it (a reset or a second pipeline on the same group). Fix: give each pipeline its own group id, then re-run.',
      { type: 'OffsetConflict' },
    );
    this.name = 'OffsetConflictError';
  }
}

/**
 * A connected producer for one transaction attempt. Connecting it (InitProducerId) fences
 * every older producer with the same transactional id and settles what it left open.
 */
export async function connectTransactionalProducer(kafka: Kafka, transactionalId: string): Promise<Producer> {
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, transactionTimeout: 120_000 });
  await producer.connect();
  return producer;
}

/**
 * Writes a range's output and moves the group offset to `to + 1` in one Kafka transaction,
 * at most once per range.
 *
 * Every call opens a fresh transactional producer: its InitProducerId fences any older
 * attempt (a zombie worker) and completes or aborts whatever transaction that attempt
 * left open. Only then is the committed offset read, so the read is stable: `to + 1`
 * means an earlier attempt landed the range, `from` means nothing landed. The producer is
 * discarded after every attempt because kafkajs does not retry EndTxn or AddOffsetsToTxn.
 */
export async function commitRange(kafka: Kafka, admin: KafkaAdmin, options: RangeCommitOptions): Promise<RangeCommitResult> {
  const { topic, partition, from, to } = options;
  const producer = await connectTransactionalProducer(kafka, options.transactionalId);
  try {
    const txn = await producer.transaction();
    const committed = (await admin.committedOffsets(options.groupId, topic)).get(partition) ?? null;
    if (committed === to + 1n) {
      await txn.abort();
      return { status: 'already-committed', produced: 0 };
    }
    if (!(committed === from || (committed === null && options.firstRun))) {
      await txn.abort();
      throw new OffsetConflictError({ from, to }, committed);
    }
    let produced = 0;
    try {
      for await (const batch of chunkRecords(options.records())) {
        await txn.sendBatch({ topicMessages: groupByTopic(batch) });
        produced += batch.length;
        options.onProgress?.(produced);
      }
      await txn.sendOffsets({
        consumerGroupId: options.groupId,
        topics: [{ topic, partitions: [{ partition, offset: (to + 1n).toString() }] }],
      });
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
    return { status: 'committed', produced };
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

export function groupByTopic<T extends { topic: string }>(records: T[]) {
  const byTopic = new Map<string, Omit<T, 'topic'>[]>();
  for (const { topic, ...message } of records) {
    let list = byTopic.get(topic);
    if (!list) byTopic.set(topic, (list = []));
    list.push(message);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}
