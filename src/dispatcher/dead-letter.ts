import type { ConsumedRecord, KafkaIo } from '../kafka';
import { isRecordTooLarge } from './faults';

export type DeadLetterReason = 'unknown-command' | 'invalid-params' | 'undecodable' | 'oversized' | 'unknown-schema' | 'invalid-envelope';

/** Header names on dead-letter records; consumers of the dead-letter topic read these. */
export const DLQ_HEADERS = {
  reason: 'kto-dlq-reason',
  error: 'kto-dlq-error',
  topic: 'kto-source-topic',
  partition: 'kto-source-partition',
  offset: 'kto-source-offset',
  /** Only on a truncated copy (the dead-letter topic refused the whole record): the original value's size in bytes. */
  originalSize: 'kto-dlq-original-size',
} as const;

/** Keeps the header small: the full story is in the dispatcher log, keyed by topic/partition/offset. */
const MAX_ERROR_LENGTH = 1000;

/** How much of the value a truncated copy keeps. */
export const TRUNCATED_VALUE_BYTES = 64 * 1024;

/**
 * Writes the original key and value bytes untouched, with headers saying why and where from,
 * so the record can be inspected, fixed and re-produced. A record larger than the dead-letter
 * topic accepts (`max.message.bytes`) is written as a truncated copy instead: the first
 * TRUNCATED_VALUE_BYTES of its value, with its original size in `kto-dlq-original-size`.
 * `produce` waits for acks=-1 (all in-sync replicas) before the source offset may be committed.
 * @returns whether the copy is truncated
 */
export async function writeDeadLetter(kafka: KafkaIo, deadLetterTopic: string, record: ConsumedRecord, reason: DeadLetterReason, error: string): Promise<boolean> {
  const headers = {
    ...record.headers,
    [DLQ_HEADERS.reason]: reason,
    [DLQ_HEADERS.error]: error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH - 1)}…` : error,
    [DLQ_HEADERS.topic]: record.topic,
    [DLQ_HEADERS.partition]: String(record.partition),
    [DLQ_HEADERS.offset]: record.offset.toString(),
  };
  try {
    await kafka.produce([{ topic: deadLetterTopic, key: record.key, value: record.value, headers }]);
    return false;
  } catch (err) {
    if (!isRecordTooLarge(err)) throw err;
  }
  await kafka.produce([
    {
      topic: deadLetterTopic,
      key: record.key,
      value: record.value && record.value.subarray(0, TRUNCATED_VALUE_BYTES),
      headers: { ...headers, [DLQ_HEADERS.originalSize]: String(record.value?.length ?? 0) },
    },
  ]);
  return true;
}
