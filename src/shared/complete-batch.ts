import type { AggregationSpecInput } from '../aggregate/spec';

/**
 * The complete-batch protocol (README "Complete batches"): a batch's records sit in a data
 * topic, each `{eventId, id, offset, payload}`, and one event `{eventId, capacity,
 * sourceDescriptor, description}` in an event topic says where they start. Pure types and
 * logic: workflows import this file, so it must not touch Node or I/O.
 * Kafka offsets travel as decimal strings (JSON has no 64-bit integers).
 */

export interface SourceDescriptor {
  topic: string;
  partition: number;
  /** Offset of the batch's first record in the data topic. */
  offset: string;
}

export interface BatchEvent {
  /** Stable batch id, e.g. `20201201-end-of-day`; the Kafka key of the batch's records and event. */
  eventId: string;
  /** Number of distinct records in the batch. */
  capacity: number;
  sourceDescriptor: SourceDescriptor;
  description: string;
}

/** A record of the data topic, as kept for the batch. */
export interface BatchRecord {
  eventId: string;
  /** Unique within the batch; duplicates are dropped by it. Numbers are compared as their decimal text. */
  id: string;
  /** Position within the batch. */
  offset: number;
  payload: unknown;
}

export type ParsedDataRecord = { ok: true; record: BatchRecord } | { ok: false; reason: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses one data-topic value; says what is wrong (never quoting the value, which may be sensitive). */
export function parseDataRecord(text: string): ParsedDataRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!isObject(value)) return { ok: false, reason: 'not a JSON object' };
  const { eventId, id, offset, payload } = value;
  if (typeof eventId !== 'string' || eventId === '') return { ok: false, reason: '"eventId" must be a non-empty string' };
  if (!(typeof id === 'string' && id !== '') && !(typeof id === 'number' && Number.isFinite(id))) {
    return { ok: false, reason: '"id" must be a non-empty string or a number' };
  }
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) return { ok: false, reason: '"offset" must be a whole number ≥ 0' };
  if (!('payload' in value)) return { ok: false, reason: '"payload" is missing' };
  return { ok: true, record: { eventId, id: String(id), offset, payload } };
}

type OfferOutcome = 'kept' | 'duplicate' | 'foreign' | 'bad' | 'ignored';

/**
 * Collects one batch from the data topic, read in Kafka offset order from the batch's
 * source descriptor: keeps the records of its eventId, drops repeated ids (first one wins, so
 * a producer's retry cannot change the batch), and says when `capacity` distinct records
 * are in. Records after that are ignored. Memory grows with the batch's ids, not its payloads.
 */
export function createBatchAssembler(eventId: string, capacity: number) {
  const ids = new Set<string>();
  let duplicates = 0;
  let foreign = 0;
  let lastPosition = -1;
  let inOrder = true;
  const bad: { kafkaOffset: string; reason: string }[] = [];

  return {
    /**
     * Offers the next record of the partition. `key` is the Kafka key: a record keyed with this
     * batch's eventId that is not a valid data record is `bad` (the batch cannot be trusted);
     * an unparseable record under another key belongs to someone else (`foreign`).
     */
    offer(key: string | null, value: string | null, kafkaOffset: string): { outcome: OfferOutcome; record?: BatchRecord } {
      if (ids.size >= capacity) return { outcome: 'ignored' };
      const parsed = value === null ? ({ ok: false, reason: 'no value' } as const) : parseDataRecord(value);
      if (!parsed.ok) {
        if (key !== eventId) {
          foreign++;
          return { outcome: 'foreign' };
        }
        bad.push({ kafkaOffset, reason: parsed.reason });
        return { outcome: 'bad' };
      }
      const { record } = parsed;
      if (record.eventId !== eventId) {
        foreign++;
        return { outcome: 'foreign' };
      }
      if (ids.has(record.id)) {
        duplicates++;
        return { outcome: 'duplicate' };
      }
      ids.add(record.id);
      if (record.offset < lastPosition) inOrder = false;
      lastPosition = Math.max(lastPosition, record.offset);
      return { outcome: 'kept', record };
    },
    get complete(): boolean {
      return ids.size >= capacity;
    },
    get kept(): number {
      return ids.size;
    },
    get duplicates(): number {
      return duplicates;
    },
    get foreign(): number {
      return foreign;
    },
    /** Records keyed with this batch's id that are not valid data records. */
    get bad(): readonly { kafkaOffset: string; reason: string }[] {
      return bad;
    },
    /** The kept records arrived in ascending batch position (the usual case: no re-sort needed). */
    get inOrder(): boolean {
      return inOrder;
    },
  };
}

export type BatchAssembler = ReturnType<typeof createBatchAssembler>;

/** Sorts kept records by batch position; stable, so equal positions keep their Kafka order. */
export function orderByPosition<T extends { offset: number }>(records: T[]): T[] {
  return records.map((r, i) => ({ r, i })).sort((a, b) => a.r.offset - b.r.offset || a.i - b.i).map(({ r }) => r);
}

/** Where the event record came from: the run's idempotency is anchored on it. */
export interface EventSource {
  topic: string;
  partition: number;
  offset: string;
}

/** Why a batch went to the error topic (header `kto-error-reason`). */
export type BatchRejectReason = 'incomplete-batch' | 'bad-record' | 'bad-source-descriptor';

export interface CompleteBatchInput {
  event: BatchEvent;
  eventSource: EventSource;
  outputTopic: string;
  errorTopic: string;
  /** Name of a registered batch handler (activities/complete-batch.ts). @default 'aggregate' */
  handler: string;
  /** For the `aggregate` handler. @default daily mean of `voltage` by `datetime` */
  aggregation: AggregationSpecInput;
  /** Milliseconds from the run's start after which an incomplete batch is rejected. */
  deadlineMs: number;
  /** Milliseconds between reads of the data topic while the batch is incomplete. */
  pollIntervalMs: number;
  /** Heartbeat timeout of the processing step: how fast a dead worker is noticed. */
  workerLossTimeoutMs: number;
}

export interface ProcessBatchInput extends CompleteBatchInput {
  /** The workflow id: names the transaction and the idempotency marker. */
  runId: string;
  /** The deadline passed: an incomplete batch is rejected now instead of polled again. */
  final: boolean;
}

export interface ProcessBatchResult {
  status: 'processed' | 'already-processed' | 'incomplete' | 'rejected';
  reason?: BatchRejectReason;
  kept: number;
  duplicates: number;
  outputRecords: number;
  errorRecords: number;
  durationMs: number;
}

export interface CompleteBatchSummary extends ProcessBatchResult {
  eventId: string;
  passes: number;
}

/** Headers on every output and error record of a complete batch, for checkers and cautious consumers. */
export const COMPLETE_BATCH_HEADERS = {
  eventId: 'kto-event-id',
  run: 'kto-batch-run',
  eventTopic: 'kto-event-topic',
  eventPartition: 'kto-event-partition',
  eventOffset: 'kto-event-offset',
  reason: 'kto-error-reason',
  error: 'kto-error',
} as const;

/** One transactional id and one idempotency-marker group per run: a zombie attempt of the same run is fenced. */
export const completeBatchTxnId = (runId: string): string => `kto-complete-batch.${runId}`;
