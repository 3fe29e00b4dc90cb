import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { RecordBlock } from '../kafka';

/**
 * Worker-local staging files: raw records stay on the worker's disk between the consume,
 * aggregate and produce steps instead of travelling through Temporal payloads.
 *
 * A file is a sequence of frames `[int64 offset][int32 len][value][int32 len][note]`,
 * where a length of -1 stands for null. `note` carries e.g. a dead-letter reason.
 */
export interface StagedRecord {
  offset: bigint;
  value: Buffer | null;
  note: string | null;
}

export function stagingPath(dir: string, ...parts: (string | number)[]): string {
  return path.join(dir, parts.map((p) => String(p).replace(/[^\w.-]/g, '_')).join('.'));
}

/** The staging files of one pinned range of a batch partition: its records, then the aggregate's output and errors. */
export function rangeStagingPath(dir: string, range: { pipeline: string; partition: number; from: string }, kind: 'records' | 'output' | 'errors'): string {
  return stagingPath(dir, range.pipeline, range.partition, range.from, kind);
}

export async function createStagingWriter(file: string) {
  await mkdir(path.dirname(file), { recursive: true });
  const out = createWriteStream(file);
  await once(out, 'open');
  let count = 0;
  return {
    /** Writes a batch as one buffer; resolves at once unless the stream asks for back-pressure. */
    async write(records: readonly StagingInput[]): Promise<void> {
      if (records.length === 0) return;
      count += records.length;
      if (!out.write(encodeFrames(records))) await once(out, 'drain');
    },
    /** Writes records read in place from a fetch (kafka/record-batches.ts), without a note. */
    async writeBlock(block: RecordBlock): Promise<void> {
      if (block.length === 0) return;
      count += block.length;
      if (!out.write(encodeBlock(block))) await once(out, 'drain');
    },
    get count() {
      return count;
    },
    async close(): Promise<void> {
      out.end();
      await once(out, 'finish');
    },
  };
}

/** What the writer takes: a record read from Kafka (decimal offset) or from another staging file. */
export interface StagingInput {
  offset: bigint | number | string;
  value: Buffer | null;
  note?: string | null;
}

function encodeFrames(records: readonly StagingInput[]): Buffer {
  let size = 0;
  for (const r of records) size += 16 + (r.value?.length ?? 0) + (r.note ? Buffer.byteLength(r.note, 'utf8') : 0);
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const r of records) {
    writeOffset(buf, pos, r.offset);
    buf.writeInt32BE(r.value === null ? -1 : r.value.length, pos + 8);
    pos += 12;
    if (r.value) pos += r.value.copy(buf, pos);
    const note = r.note ?? null;
    const noteLength = note === null ? -1 : buf.write(note, pos + 4, 'utf8');
    buf.writeInt32BE(noteLength, pos);
    pos += 4 + Math.max(noteLength, 0);
  }
  return buf;
}

function encodeBlock(block: RecordBlock): Buffer {
  let size = 0;
  for (let i = 0; i < block.length; i++) size += 16 + (block.valueStart(i) < 0 ? 0 : block.valueEnd(i) - block.valueStart(i));
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  for (let i = 0; i < block.length; i++) {
    writeOffset(buf, pos, block.offset(i));
    const start = block.valueStart(i);
    if (start < 0) {
      buf.writeInt32BE(-1, pos + 8);
      pos += 12;
    } else {
      const end = block.valueEnd(i);
      buf.writeInt32BE(end - start, pos + 8);
      pos += 12 + block.source(i).copy(buf, pos + 12, start, end);
    }
    buf.writeInt32BE(-1, pos);
    pos += 4;
  }
  return buf;
}

/** Writes an offset as int64; a number, or a decimal string of at most 15 digits, skips the BigInt. */
function writeOffset(buf: Buffer, pos: number, offset: bigint | number | string): void {
  if (typeof offset === 'number' || (typeof offset === 'string' && offset.length <= 15)) {
    const n = Number(offset);
    buf.writeUInt32BE(Math.floor(n / 2 ** 32), pos);
    buf.writeUInt32BE(n % 2 ** 32, pos + 4);
  } else {
    buf.writeBigInt64BE(BigInt(offset), pos);
  }
}

/**
 * The records of one read chunk of a staging file, read in place: the aggregate step decodes
 * each value straight from the chunk, without a copy, an object or a BigInt per record.
 */
export interface StagedChunk {
  readonly length: number;
  /** A number below 2^53 (every offset in practice), a bigint above. */
  offset(i: number): number | bigint;
  /** The value decoded as UTF-8. */
  text(i: number): string | null;
  /** The value's bytes, a view into the chunk. */
  value(i: number): Buffer | null;
  note(i: number): string | null;
}

/** Offsets below 2^53 have a high word below 2^21 and are exact as numbers. */
const SAFE_HIGH_WORD = 2 ** 21;

function stagedChunk(buf: Buffer, starts: number[]): StagedChunk {
  const valueLength = (i: number) => buf.readInt32BE(starts[i] + 8);
  return {
    length: starts.length,
    offset(i) {
      const high = buf.readInt32BE(starts[i]);
      return high >= 0 && high < SAFE_HIGH_WORD ? high * 2 ** 32 + buf.readUInt32BE(starts[i] + 4) : buf.readBigInt64BE(starts[i]);
    },
    text(i) {
      const length = valueLength(i);
      return length < 0 ? null : buf.toString('utf8', starts[i] + 12, starts[i] + 12 + length);
    },
    value(i) {
      const length = valueLength(i);
      return length < 0 ? null : buf.subarray(starts[i] + 12, starts[i] + 12 + length);
    },
    note(i) {
      const at = starts[i] + 12 + Math.max(valueLength(i), 0);
      const length = buf.readInt32BE(at);
      return length < 0 ? null : buf.toString('utf8', at + 4, at + 4 + length);
    },
  };
}

/** Where the frame at `pos` ends, or -1 when `buf` does not hold all of it. */
function frameEnd(buf: Buffer, pos: number): number {
  if (buf.length - pos < 12) return -1;
  const valueBytes = Math.max(buf.readInt32BE(pos + 8), 0);
  if (buf.length - pos < 16 + valueBytes) return -1;
  const end = pos + 16 + valueBytes + Math.max(buf.readInt32BE(pos + 12 + valueBytes), 0);
  return end <= buf.length ? end : -1;
}

/**
 * Reads a staging file back, one read chunk of records at a time: a per-record async step
 * would cost a promise turn for each of millions of records.
 */
export async function* readStagingChunks(file: string): AsyncGenerator<StagedChunk> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const data of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const buf = pending.length === 0 ? (data as Buffer) : Buffer.concat([pending, data as Buffer]);
    const starts: number[] = [];
    let pos = 0;
    for (let end = frameEnd(buf, pos); end >= 0; end = frameEnd(buf, pos)) {
      starts.push(pos);
      pos = end;
    }
    pending = buf.subarray(pos);
    if (starts.length > 0) yield stagedChunk(buf, starts);
  }
  if (pending.length > 0) throw new Error(`staging file ${file} ends inside a record (${pending.length} stray bytes)`);
}

/** Reads a staging file back as records, one read chunk at a time. */
export async function* readStaging(file: string): AsyncGenerator<StagedRecord[]> {
  for await (const chunk of readStagingChunks(file)) {
    yield Array.from({ length: chunk.length }, (_, i) => ({ offset: BigInt(chunk.offset(i)), value: chunk.value(i), note: chunk.note(i) }));
  }
}

/** Key and headers of an output record, kept in its staged frame's note. */
export interface OutputMeta {
  key: string | null;
  headers?: Record<string, string>;
}

export function encodeOutputMeta({ key, headers }: OutputMeta): string {
  return JSON.stringify(headers === undefined ? { k: key } : { k: key, h: headers });
}

export function decodeOutputMeta(note: string | null): OutputMeta {
  const { k, h } = JSON.parse(note ?? '{"k":null}') as { k: string | null; h?: Record<string, string> };
  return { key: k, headers: h };
}

export async function removeStaging(...files: string[]): Promise<void> {
  await Promise.all(files.map((f) => rm(f, { force: true })));
}
