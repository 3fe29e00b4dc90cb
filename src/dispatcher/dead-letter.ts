import type { ConsumedRecord, KafkaIo } from '../kafka';

export type DeadLetterReason = 'unknown-command' | 'invalid-params' | 'undecodable' | 'oversized' | 'unknown-schema' | 'invalid-envelope';

/** Header names on dead-letter records; consumers of the dead-letter topic read these. */
export const DLQ_HEADERS = {
  reason: 'kto-dlq-reason',
  error: 'kto-dlq-error',
  topic: 'kto-source-topic',
  partition: 'kto-source-partition',
  offset: 'kto-source-offset',
} as const;

/** Keeps the header small: the full story is in the dispatcher log, keyed by topic/partition/offset. */
const MAX_ERROR_LENGTH = 1000;

/**
 * Writes the original key and value bytes untouched, with headers saying why and where from,
 * so the record can be inspected, fixed and re-produced. `produce` waits for acks=-1 (all
 * in-sync replicas) before the source offset may be committed.
 */
export async function writeDeadLetter(kafka: KafkaIo, deadLetterTopic: string, record: ConsumedRecord, reason: DeadLetterReason, error: string): Promise<void> {
  await kafka.produce([
    {
      topic: deadLetterTopic,
      key: record.key,
      value: record.value,
      headers: {
        ...record.headers,
        [DLQ_HEADERS.reason]: reason,
        [DLQ_HEADERS.error]: error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH - 1)}…` : error,
        [DLQ_HEADERS.topic]: record.topic,
        [DLQ_HEADERS.partition]: String(record.partition),
        [DLQ_HEADERS.offset]: record.offset.toString(),
      },
    },
  ]);
}
