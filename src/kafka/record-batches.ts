import { createRequire } from 'node:module';
import { KtoError } from '../runtime/errors';

/**
 * Fetch v11 for one partition, and a decoder of its record batches (magic 2) that reads each
 * record's offset, timestamp and value in place: no object, string or Long per record, which is
 * what kafkajs' own decoder spends most of a batch read on. Keys and headers are skipped.
 *
 * read_committed is applied the way the Java consumer applies it: a transactional batch of a
 * producer listed in the answer's aborted transactions is skipped until that producer's abort
 * marker, and control batches (the markers) are never delivered.
 */

/** The records of one fetch, in offset order, read in place. */
export interface RecordBlock {
  readonly length: number;
  /** Exact: offsets stay below 2^53. */
  offset(i: number): number;
  /** Milliseconds since the epoch. */
  timestamp(i: number): number;
  /** The buffer holding the value; with `valueStart`/`valueEnd` its bytes, without a copy. */
  source(i: number): Buffer;
  /** -1 for a null value. */
  valueStart(i: number): number;
  valueEnd(i: number): number;
  /** The key's and the value's bytes as views (null when null), for readers that want them whole. */
  key(i: number): Buffer | null;
  value(i: number): Buffer | null;
}

export interface FetchedRange {
  /** The records from `deliverFrom` to `to`. */
  block: RecordBlock;
  /** The first record at or after the fetch offset, delivered or not. */
  first?: { offset: number; timestamp: number };
  /** The offset after the last batch the answer held whole (aborted and control batches included). */
  next: number;
  highWatermark: number;
  errorCode: number;
}

const FETCH = { apiKey: 1, apiVersion: 11, apiName: 'Fetch' } as const;
export const OFFSET_OUT_OF_RANGE = 1;

export interface FetchRequest {
  topic: string;
  partition: number;
  offset: number;
  maxWaitMs: number;
  maxBytes: number;
}

/** The records of a fetch that are handed on: offsets from..to. */
export interface Delivered {
  from: number;
  to: number;
}

/** The request body of Fetch v11 (not flexible), read_committed, outside a fetch session. */
export function encodeFetch({ topic, partition, offset, maxWaitMs, maxBytes }: FetchRequest): Buffer {
  const name = Buffer.from(topic, 'utf8');
  const buf = Buffer.alloc(4 * 4 + 1 + 4 + 4 + 4 + 2 + name.length + 4 + 4 + 4 + 8 + 8 + 4 + 4 + 2);
  let at = 0;
  at = buf.writeInt32BE(-1, at); // replica_id: a consumer
  at = buf.writeInt32BE(maxWaitMs, at);
  at = buf.writeInt32BE(1, at); // min_bytes
  at = buf.writeInt32BE(maxBytes, at);
  at = buf.writeInt8(1, at); // isolation_level: read_committed
  at = buf.writeInt32BE(0, at); // session_id
  at = buf.writeInt32BE(-1, at); // session_epoch: no fetch session
  at = buf.writeInt32BE(1, at); // one topic
  at = buf.writeInt16BE(name.length, at);
  at += name.copy(buf, at);
  at = buf.writeInt32BE(1, at); // one partition
  at = buf.writeInt32BE(partition, at);
  at = buf.writeInt32BE(-1, at); // current_leader_epoch: unknown
  at = buf.writeBigInt64BE(BigInt(offset), at);
  at = buf.writeBigInt64BE(-1n, at); // log_start_offset (followers only)
  at = buf.writeInt32BE(maxBytes, at);
  at = buf.writeInt32BE(0, at); // no forgotten topics
  buf.writeInt16BE(0, at); // rack_id: ''
  return buf;
}

/** The request and answer shapes kafkajs' connection pool sends and decodes. */
export function fetchRequest(request: FetchRequest, delivered: Delivered) {
  const body = encodeFetch(request);
  return {
    request: { ...FETCH, encode: async () => ({ buf: body, buffer: body }) },
    response: {
      decode: (raw: Buffer) => decodeFetch(raw, request, delivered),
      parse: async (answer: FetchedRange) => answer,
    },
  };
}

/** Decodes a Fetch v11 answer for the one partition asked for. */
export async function decodeFetch(raw: Buffer, request: FetchRequest, delivered: Delivered): Promise<FetchedRange> {
  let at = 4; // throttle_time_ms
  const topError = raw.readInt16BE(at);
  at += 2 + 4; // error_code, session_id
  if (topError !== 0) return { block: EMPTY, next: request.offset, highWatermark: -1, errorCode: topError };
  const topics = raw.readInt32BE(at);
  at += 4;
  for (let t = 0; t < topics; t++) {
    const nameLength = raw.readInt16BE(at);
    const name = raw.toString('utf8', at + 2, at + 2 + nameLength);
    at += 2 + nameLength;
    const partitions = raw.readInt32BE(at);
    at += 4;
    for (let p = 0; p < partitions; p++) {
      const partition = raw.readInt32BE(at);
      const errorCode = raw.readInt16BE(at + 4);
      const highWatermark = Number(raw.readBigInt64BE(at + 6));
      at += 4 + 2 + 8 + 8 + 8; // high_watermark, last_stable_offset, log_start_offset
      const aborted: { producerId: bigint; firstOffset: number }[] = [];
      const abortedCount = raw.readInt32BE(at);
      at += 4;
      for (let a = 0; a < abortedCount; a++) {
        aborted.push({ producerId: raw.readBigInt64BE(at), firstOffset: Number(raw.readBigInt64BE(at + 8)) });
        at += 16;
      }
      at += 4; // preferred_read_replica
      const size = raw.readInt32BE(at);
      at += 4;
      const records = size > 0 ? raw.subarray(at, at + size) : Buffer.alloc(0);
      at += Math.max(size, 0);
      if (name !== request.topic || partition !== request.partition) continue;
      if (errorCode !== 0) return { block: EMPTY, next: request.offset, highWatermark, errorCode };
      aborted.sort((a, b) => a.firstOffset - b.firstOffset);
      return { ...(await decodeRecordBatches(records, request.offset, delivered, aborted)), highWatermark, errorCode: 0 };
    }
  }
  throw new KtoError(`the Fetch answer holds no partition ${request.partition} of "${request.topic}"`, { type: 'FetchAnswerIncomplete', retryable: true });
}

const TIMESTAMP_LOG_APPEND = 0x08;
const TRANSACTIONAL = 0x10;
const CONTROL = 0x20;
const COMPRESSION = 0x07;
const RECORDS_AT = 61;

const codecs = createRequire(__filename)('kafkajs/src/protocol/message/compression') as {
  lookupCodecByAttributes(attributes: number): { decompress(buf: Buffer): Promise<Buffer> } | null | undefined;
};

/**
 * The committed records of the whole batches in `bytes` (a fetch answer may end inside a batch;
 * that part is fetched again) that lie in `delivered`, the first one at or after `offset`, and
 * where the next fetch starts.
 */
export async function decodeRecordBatches(
  bytes: Buffer,
  offset: number,
  delivered: Delivered,
  aborted: { producerId: bigint; firstOffset: number }[],
): Promise<{ block: RecordBlock; first?: { offset: number; timestamp: number }; next: number }> {
  const block = new Block(Math.max(offset, delivered.from), delivered.to);
  const abortedProducers = new Set<bigint>();
  let pendingAborted = 0;
  let next = offset;
  for (let at = 0; bytes.length - at >= RECORDS_AT; ) {
    const end = at + 12 + bytes.readInt32BE(at + 8);
    if (end > bytes.length) break;
    const magic = bytes.readInt8(at + 16);
    if (magic !== 2) {
      throw new KtoError(`a record batch at offset ${bytes.readBigInt64BE(at)} has message format v${magic}; kto reads format v2 (Kafka 0.11 and later). Fix: rewrite the topic with a current producer.`, {
        type: 'UnsupportedMessageFormat',
      });
    }
    const base = Number(bytes.readBigInt64BE(at));
    const attributes = bytes.readInt16BE(at + 21);
    const last = base + bytes.readInt32BE(at + 23);
    const batch = { at, end, base, attributes };
    at = end;
    next = Math.max(next, last + 1);
    if (attributes & TRANSACTIONAL) {
      while (pendingAborted < aborted.length && aborted[pendingAborted].firstOffset <= last) abortedProducers.add(aborted[pendingAborted++].producerId);
      const producerId = bytes.readBigInt64BE(batch.at + 43);
      if (attributes & CONTROL) {
        if (isAbortMarker(bytes, batch.at + RECORDS_AT)) abortedProducers.delete(producerId);
        continue;
      }
      if (abortedProducers.has(producerId)) continue;
    } else if (attributes & CONTROL) {
      continue;
    }
    if (last < offset) continue;
    await readRecords(bytes, batch, offset, block);
  }
  return { block, ...(block.first && { first: block.first }), next };
}

async function readRecords(bytes: Buffer, batch: { at: number; end: number; base: number; attributes: number }, offset: number, block: Block): Promise<void> {
  const count = bytes.readInt32BE(batch.at + 57);
  const firstTimestamp = Number(bytes.readBigInt64BE(batch.at + 27));
  const appendTime = batch.attributes & TIMESTAMP_LOG_APPEND ? Number(bytes.readBigInt64BE(batch.at + 35)) : undefined;
  let buf = bytes;
  let at = batch.at + RECORDS_AT;
  if (batch.attributes & COMPRESSION) {
    const codec = codecs.lookupCodecByAttributes(batch.attributes);
    if (!codec) throw new KtoError(`a record batch at offset ${batch.base} is compressed with a codec kafkajs was not given (attributes ${batch.attributes}). Fix: register the codec with kafkajs' CompressionCodecs, or produce with gzip or none.`, { type: 'UnsupportedCompression' });
    buf = await codec.decompress(bytes.subarray(at, batch.end));
    at = 0;
  }
  const v = { at };
  for (let i = 0; i < count; i++) {
    const length = readVarint(buf, v);
    const recordEnd = v.at + length;
    v.at += 1; // attributes
    const timestampDelta = readVarint(buf, v);
    const recordOffset = batch.base + readVarint(buf, v);
    if (recordOffset >= offset) {
      const timestamp = appendTime ?? firstTimestamp + timestampDelta;
      block.first ??= { offset: recordOffset, timestamp };
      if (recordOffset >= block.from && recordOffset <= block.to) {
        const keyLength = readVarint(buf, v);
        const keyStart = keyLength < 0 ? -1 : v.at;
        v.at += Math.max(keyLength, 0);
        const valueLength = readVarint(buf, v);
        block.add(recordOffset, timestamp, buf, keyStart, keyStart + Math.max(keyLength, 0), valueLength < 0 ? -1 : v.at, valueLength < 0 ? -1 : v.at + valueLength);
      }
    }
    v.at = recordEnd;
  }
}

/** A control batch's first record key is (version int16, type int16); type 0 is an abort. */
function isAbortMarker(bytes: Buffer, at: number): boolean {
  const v = { at };
  readVarint(bytes, v); // length
  v.at += 1;
  readVarint(bytes, v); // timestamp delta
  readVarint(bytes, v); // offset delta
  const keyLength = readVarint(bytes, v);
  return keyLength >= 4 && bytes.readInt16BE(v.at + 2) === 0;
}

/** A zigzag varint or varlong, as a number (exact up to 2^53). */
function readVarint(buf: Buffer, v: { at: number }): number {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = buf[v.at++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) break;
    scale *= 128;
  }
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

class Block implements RecordBlock {
  first?: { offset: number; timestamp: number };
  private readonly offsets: number[] = [];
  private readonly timestamps: number[] = [];
  private readonly sources: Buffer[] = [];
  private readonly keyStarts: number[] = [];
  private readonly keyEnds: number[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  constructor(
    readonly from: number,
    readonly to: number,
  ) {}

  get length(): number {
    return this.offsets.length;
  }
  add(offset: number, timestamp: number, source: Buffer, keyStart: number, keyEnd: number, start: number, end: number): void {
    this.offsets.push(offset);
    this.timestamps.push(timestamp);
    this.sources.push(source);
    this.keyStarts.push(keyStart);
    this.keyEnds.push(keyEnd);
    this.starts.push(start);
    this.ends.push(end);
  }
  key(i: number): Buffer | null {
    return this.keyStarts[i] < 0 ? null : this.sources[i].subarray(this.keyStarts[i], this.keyEnds[i]);
  }
  value(i: number): Buffer | null {
    return this.starts[i] < 0 ? null : this.sources[i].subarray(this.starts[i], this.ends[i]);
  }
  offset(i: number): number {
    return this.offsets[i];
  }
  timestamp(i: number): number {
    return this.timestamps[i];
  }
  source(i: number): Buffer {
    return this.sources[i];
  }
  valueStart(i: number): number {
    return this.starts[i];
  }
  valueEnd(i: number): number {
    return this.ends[i];
  }
}

const EMPTY: RecordBlock = new Block(0, -1);
