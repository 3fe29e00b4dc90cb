import type { Kafka } from 'kafkajs';
import { chunkRecords } from './chunk';
import { placeAndSend, type Placer } from './send';
import { beginTransaction, type OutboundRecord } from './transactional';

/** A record to publish; without `partition` the default partitioner places it by key. */
export type PublishRecord = Omit<OutboundRecord, 'partition'> & { partition?: number };

/** Where one send put its records: the first offset the broker gave them in each partition. */
export interface SentPosition {
  topic: string;
  partition: number;
  baseOffset: bigint;
}

export interface PublishTxn {
  /** Sends records inside the open transaction; resolves with where each topic-partition's first record landed. */
  send(records: AsyncIterable<PublishRecord> | Iterable<PublishRecord>): Promise<SentPosition[]>;
}

export interface PublishTransactionOptions<T> {
  /**
   * Stable per unit of work (e.g. per batch): a retry with the same id fences the earlier
   * attempt and completes or aborts whatever transaction it left open.
   */
  transactionalId: string;
  /**
   * Runs inside the transaction, after the fence: reads made here see every earlier attempt's
   * outcome. Return `commit: false` to abort (e.g. the work turned out to be done already).
   */
  run: (txn: PublishTxn) => Promise<{ commit: boolean; result: T }>;
}

/**
 * Publishes whatever `run` sends in one Kafka transaction: a read_committed consumer sees all
 * of it or nothing. Unlike `commitRange` it moves no consumer-group offset; the caller decides
 * inside `run` whether the work was already done. Like `commitRange`, every call opens a fresh
 * producer and discards it afterwards (kafkajs does not retry EndTxn).
 */
export async function publishTransaction<T>(kafka: Kafka, placer: Placer, options: PublishTransactionOptions<T>): Promise<T> {
  const { producer, txn } = await beginTransaction(kafka, options.transactionalId);
  try {
    try {
      const { commit, result } = await options.run({
        async send(records) {
          const first = new Map<string, SentPosition>();
          for await (const chunk of chunkRecords<PublishRecord>(records)) {
            const sent = await placeAndSend(txn, placer, chunk);
            for (const m of sent) {
              const key = `${m.topicName}\n${m.partition}`;
              if (!first.has(key) && m.baseOffset !== undefined) first.set(key, { topic: m.topicName, partition: m.partition, baseOffset: BigInt(m.baseOffset) });
            }
          }
          return [...first.values()];
        },
      });
      if (commit) await txn.commit();
      else await txn.abort();
      return result;
    } catch (err) {
      await txn.abort().catch(() => undefined);
      throw err;
    }
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}
