import { byPartitionAndOffset, type KafkaIo, type ScannedRecord, type ScanStart } from '../kafka';
import { UserError } from '../runtime/errors';
import type { DecodedValue, ValueDecoder } from '../runtime/value-decoder';
import { DLQ_HEADERS } from './dead-letter';

/**
 * Reading the dispatcher's dead-letter topic back (`kto dlq list|show|replay`). A dead letter is
 * named by its own place in the dead-letter topic, `<partition>:<offset>` (its "ref"); the
 * source partition and offset in its headers say where the command was first read.
 */

/** One dead letter: where it is, why it is there, where it came from, and its decoded body. */
export interface DeadLetter {
  /** `<partition>:<offset>` in the dead-letter topic. */
  ref: string;
  partition: number;
  offset: bigint;
  /** When it was dead-lettered, ms since the epoch. */
  timestampMs: number;
  reason: string;
  error: string;
  source: { topic: string | null; partition: number | null; offset: string | null };
  /** The `command` field of the decoded body, when it has one. */
  command: string | null;
  /** A truncated copy (the dead-letter topic refused the whole record): it cannot be replayed. */
  truncated: boolean;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  decoded: DecodedValue;
}

export interface DeadLetterRef {
  partition: number;
  offset: bigint;
}

export interface DeadLetterFilter {
  reason?: string;
  command?: string;
  /** Dead-lettered at or after, ms since the epoch. */
  sinceMs?: number;
  /** Dead-lettered before, ms since the epoch. */
  untilMs?: number;
  /** The partition of the commands topic the command was read from (header `kto-source-partition`). */
  sourcePartition?: number;
  /** Only these dead letters. */
  refs?: DeadLetterRef[];
}

/** Parses `<partition>:<offset>`, the ref `kto dlq list` prints. */
export function parseDeadLetterRef(text: string): DeadLetterRef {
  const match = /^(\d+):(\d+)$/.exec(text.trim());
  if (!match) throw new UserError(`"${text}" is not a dead-letter ref.`, 'give <partition>:<offset> of the dead-letter topic, as the REF column of kto dlq list shows, e.g. 0:42');
  return { partition: Number(match[1]), offset: BigInt(match[2]) };
}

const refOf = (r: DeadLetterRef): string => `${r.partition}:${r.offset}`;

const intOrNull = (text: string | undefined): number | null => (text !== undefined && /^\d+$/.test(text) ? Number(text) : null);

async function toDeadLetter(record: ScannedRecord, decoder: ValueDecoder): Promise<DeadLetter> {
  const h = record.headers;
  const decoded = await decoder.decode(record.value);
  const body = decoded.value as { command?: unknown } | null;
  const command = (decoded.format === 'json' || decoded.format === 'avro') && typeof body?.command === 'string' ? body.command : null;
  return {
    ref: refOf(record),
    partition: record.partition,
    offset: record.offset,
    timestampMs: record.timestampMs,
    reason: h[DLQ_HEADERS.reason] ?? '',
    error: h[DLQ_HEADERS.error] ?? '',
    source: { topic: h[DLQ_HEADERS.topic] ?? null, partition: intOrNull(h[DLQ_HEADERS.partition]), offset: h[DLQ_HEADERS.offset] ?? null },
    command,
    truncated: h[DLQ_HEADERS.originalSize] !== undefined,
    key: record.key,
    value: record.value,
    headers: h,
    decoded,
  };
}

/** Whether a dead letter passes every filter given. */
export function matchesFilter(dl: Pick<DeadLetter, 'partition' | 'offset' | 'timestampMs' | 'reason' | 'command' | 'source'>, filter: DeadLetterFilter): boolean {
  if (filter.refs && !filter.refs.some((r) => r.partition === dl.partition && r.offset === dl.offset)) return false;
  if (filter.reason !== undefined && dl.reason !== filter.reason) return false;
  if (filter.command !== undefined && dl.command !== filter.command) return false;
  if (filter.sinceMs !== undefined && dl.timestampMs < filter.sinceMs) return false;
  if (filter.untilMs !== undefined && dl.timestampMs >= filter.untilMs) return false;
  if (filter.sourcePartition !== undefined && dl.source.partition !== filter.sourcePartition) return false;
  return true;
}

/** Where to start reading: at the refs' smallest offsets, at `since` (offsets for times), else at the start. */
function startOf(filter: DeadLetterFilter): ScanStart {
  if (filter.refs) {
    const offsets = new Map<number, bigint>();
    for (const r of filter.refs) {
      const seen = offsets.get(r.partition);
      if (seen === undefined || r.offset < seen) offsets.set(r.partition, r.offset);
    }
    return { offsets };
  }
  return filter.sinceMs !== undefined ? { timestampMs: filter.sinceMs } : 'earliest';
}

/**
 * The dead letters of `topic` that pass `filter`, in (partition, offset) order, read as a
 * read_committed consumer sees them up to the end offsets at the start, without a consumer group
 * of anyone's. Refs that name no record are reported by the caller (they are simply absent).
 */
export async function readDeadLetters(kafka: KafkaIo, topic: string, filter: DeadLetterFilter, decoder: ValueDecoder): Promise<DeadLetter[]> {
  if (!(await kafka.listTopics()).some((t) => t.topic === topic)) {
    throw new UserError(`the dead-letter topic "${topic}" does not exist.`, 'the dispatcher creates it when it starts; check KTO_DEAD_LETTER_TOPIC (or dispatcher.deadLetterTopic) names the one your dispatcher writes');
  }
  const found: DeadLetter[] = [];
  await kafka.scanTopic({
    topic,
    from: startOf(filter),
    onRecord: async (record) => {
      if (filter.refs && !filter.refs.some((r) => r.partition === record.partition && r.offset === record.offset)) return;
      const dl = await toDeadLetter(record, decoder);
      if (matchesFilter(dl, filter)) found.push(dl);
    },
  });
  return found.sort(byPartitionAndOffset);
}

/** The refs of `refs` that `found` does not hold: gone (retention), never written, or not a record (a transaction marker). */
export function missingRefs(refs: DeadLetterRef[], found: DeadLetter[]): string[] {
  const have = new Set(found.map((d) => d.ref));
  return refs.map(refOf).filter((r) => !have.has(r));
}
