import type { Kafka, RetryOptions } from 'kafkajs';
import type { KafkaConfig } from '../runtime/config';
import type { Logger } from '../runtime/logger';
import { createKafkaAdmin } from './admin';
import { createKafka, lazilyConnected, type KafkaClientOptions } from './client';
import { createGroupConsumer, type GroupConsumerOptions } from './group-consumer';
import { createInternalCluster } from './internal-cluster';
import { readRange, type ReadRangeOptions } from './range-reader';
import { readTopic, type ReadTopicOptions } from './topic-reader';
import { scanTopic, type ScanTopicOptions } from './topic-scan';
import { chunkRecords } from './chunk';
import { commitRange, moveGroupOffset, type GroupOffsetMove, type OutboundRecord, type RangeCommitOptions } from './transactional';
import { publishTransaction, type PublishTransactionOptions } from './transactional-publish';
import { createPlacer, placeAndSend } from './send';

export { TopicNotFoundError, type KafkaAdmin, type PartitionWatermarks, type TopicSpec, type TopicSummary } from './admin';
export { kafkaClientOptions, type KafkaClientOptions } from './client';
export type { ConsumedRecord, GroupConsumer, GroupConsumerOptions } from './group-consumer';
export type { ReadRangeOptions } from './range-reader';
export type { RecordBlock } from './record-batches';
export type { ReadTopicOptions, TopicRecord } from './topic-reader';
export { byPartitionAndOffset } from './topic-reader';
export type { ScannedRecord, ScanStart, ScanTopicOptions } from './topic-scan';
export type { PublishRecord, PublishTransactionOptions, PublishTxn, SentPosition } from './transactional-publish';
export { OffsetConflictError, type OutboundRecord, type RangeCommitOptions, type RangeCommitResult } from './transactional';

/** Spelled out in full, like the client's (see client.ts). */
const PRODUCE_RETRY: RetryOptions = { initialRetryTime: 100, maxRetryTime: 2_000, multiplier: 2, factor: 0.2, retries: 15 };

/**
 * kto's one door to Kafka: the rest of the code never imports kafkajs, so the client
 * library can be swapped behind this interface.
 */
export function createKafkaIo(config: KafkaConfig, logger: Logger, options: KafkaClientOptions = {}) {
  const kafka: Kafka = createKafka(config, logger, options);
  const admin = createKafkaAdmin(kafka);
  // Long enough to ride out a leader election on a cluster (a broker's session timeout, 9 s by default).
  const producer = lazilyConnected(() => kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: PRODUCE_RETRY }));
  const placer = createPlacer(admin);
  const fetcher = lazilyConnected(() => createInternalCluster(kafka));

  return {
    admin,
    readRange: (options: ReadRangeOptions) => readRange(() => fetcher.get(), options),
    commitRange: (options: RangeCommitOptions) => commitRange(kafka, admin, options),
    /** An operator's reset: moves a group offset unconditionally, fencing range commits in flight; see transactional.ts. */
    moveGroupOffset: (move: GroupOffsetMove) => moveGroupOffset(kafka, move),
    /** Several sends in one transaction, with the offsets they landed at (complete batches); see transactional-publish.ts. */
    publishTransaction: <T>(options: PublishTransactionOptions<T>) => publishTransaction(kafka, placer, options),
    /** Every non-internal topic with its partition count. */
    listTopics: () => admin.topics(),
    /** What a read_committed consumer sees of a small topic (outputs, checks); see topic-reader.ts. */
    readTopic: (options: ReadTopicOptions) => readTopic(kafka, admin, options),
    /** Reads a topic read_committed from a chosen start, to its end or following it, without any group side effects; see topic-scan.ts. */
    scanTopic: (options: ScanTopicOptions) => scanTopic(kafka, admin, options),
    /** Idempotent, acks=all writes outside any transaction (dead letters, demo data, tests); a stream is sent a request at a time. */
    async produce(records: Iterable<Omit<OutboundRecord, 'partition'> & { partition?: number }> | AsyncIterable<Omit<OutboundRecord, 'partition'> & { partition?: number }>): Promise<void> {
      const p = await producer.get();
      for await (const chunk of chunkRecords<Omit<OutboundRecord, 'partition'> & { partition?: number }>(records)) {
        await placeAndSend(p, placer, chunk, -1);
      }
    },
    /** A consumer-group member with explicit, caller-chosen commits (the dispatcher); see group-consumer.ts. */
    groupConsumer: (options: GroupConsumerOptions) => createGroupConsumer(kafka, logger, options),
    /** The raw client, for the few callers that need a consumer group of their own (dispatcher, tests). */
    client: kafka,
    async close(): Promise<void> {
      const p = producer.take();
      if (p) await (await p).disconnect().catch(() => undefined);
      const f = fetcher.take();
      if (f) await (await f.catch(() => undefined))?.disconnect();
      await admin.close();
    },
  };
}

export type KafkaIo = ReturnType<typeof createKafkaIo>;
