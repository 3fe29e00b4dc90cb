import { errorChain, KtoError } from '../runtime/errors';
import type { IHeaders, Kafka, Producer, Transaction } from 'kafkajs';
import type { KafkaAdmin } from './admin';
import { chunkRecords } from './chunk';
import { sendEvery } from './send';

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
  /** Stored with the committed offset (Kafka's offset metadata), read back by `committedPosition`. */
  offsetMetadata?: string;
  /** How long the broker keeps the transaction open before aborting it. @default 120_000 */
  transactionTimeoutMs?: number;
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
 * A fresh transactional producer with its transaction begun, for one attempt. Beginning the
 * first transaction sends InitProducerId, which fences every older producer with the same
 * transactional id and settles what it left open. The caller disconnects the producer.
 */
export async function beginTransaction(kafka: Kafka, transactionalId: string, transactionTimeoutMs = 120_000): Promise<{ producer: Producer; txn: Transaction }> {
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, transactionTimeout: transactionTimeoutMs });
  try {
    await producer.connect();
    return { producer, txn: await producer.transaction() };
  } catch (err) {
    await producer.disconnect().catch(() => undefined);
    if (protocolErrorType(err) === 'INVALID_TRANSACTION_TIMEOUT') {
      throw new KtoError(
        `the broker refuses a transaction timeout of ${transactionTimeoutMs} ms: it is above its transaction.max.timeout.ms. Fix: lower the pipeline's transactionTimeout, or raise transaction.max.timeout.ms on the brokers.`,
        { type: 'InvalidTransactionTimeout' },
      );
    }
    throw err;
  }
}

/** The Kafka protocol error type of a kafkajs error, also when a retrier wrapped it. */
function protocolErrorType(err: unknown): string | undefined {
  for (const e of errorChain(err)) if (typeof e.type === 'string') return e.type;
  return undefined;
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
 *
 * Invariant 1 (docs/design.md): output, dead letters, state record and group offset are one
 * transaction. Invariant 2: fence first, then read the offset, so a late attempt lands nothing.
 */
export async function commitRange(kafka: Kafka, admin: KafkaAdmin, options: RangeCommitOptions): Promise<RangeCommitResult> {
  const { topic, partition, from, to } = options;
  const { producer, txn } = await beginTransaction(kafka, options.transactionalId, options.transactionTimeoutMs);
  try {
    const { offset: committed } = await admin.committedPosition(options.groupId, topic, partition);
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
        await sendEvery(txn, batch);
        produced += batch.length;
        options.onProgress?.(produced);
      }
      await sendOffset(txn, options.groupId, topic, partition, to + 1n, options.offsetMetadata);
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

export interface GroupOffsetMove {
  /** The same transactional id the partition's range commits use, so an attempt in flight is fenced. */
  transactionalId: string;
  groupId: string;
  topic: string;
  partition: number;
  offset: bigint;
  /** Written in the same transaction (e.g. a state record saying where the group now stands). */
  records: OutboundRecord[];
}

/** Moves a group's offset unconditionally, with `records`, in one transaction: an operator's reset. */
export async function moveGroupOffset(kafka: Kafka, move: GroupOffsetMove): Promise<void> {
  const { producer, txn } = await beginTransaction(kafka, move.transactionalId);
  try {
    try {
      if (move.records.length > 0) await sendEvery(txn, move.records);
      await sendOffset(txn, move.groupId, move.topic, move.partition, move.offset);
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

async function sendOffset(txn: Transaction, groupId: string, topic: string, partition: number, offset: bigint, metadata?: string): Promise<void> {
  // kafkajs passes `metadata` through to TxnOffsetCommit; its types only lack the field.
  const partitions = [{ partition, offset: offset.toString(), ...(metadata !== undefined && { metadata }) }];
  await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions }] });
}
