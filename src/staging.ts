import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';

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
  offset: bigint | string;
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

/** Writes an offset as int64; a decimal string of at most 15 digits skips the BigInt. */
function writeOffset(buf: Buffer, pos: number, offset: bigint | string): void {
  if (typeof offset === 'string' && offset.length <= 15) {
    const n = Number(offset);
    buf.writeUInt32BE(Math.floor(n / 2 ** 32), pos);
    buf.writeUInt32BE(n % 2 ** 32, pos + 4);
  } else {
    buf.writeBigInt64BE(BigInt(offset), pos);
  }
}

/**
 * Reads a staging file back, one read chunk of records at a time: a per-record async step
 * would cost a promise turn for each of millions of records.
 */
export async function* readStaging(file: string): AsyncGenerator<StagedRecord[]> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    pending = pending.length === 0 ? (chunk as Buffer) : Buffer.concat([pending, chunk as Buffer]);
    const records: StagedRecord[] = [];
    let pos = 0;
    for (;;) {
      if (pending.length - pos < 12) break;
      const valueLen = pending.readInt32BE(pos + 8);
      const valueBytes = Math.max(valueLen, 0);
      if (pending.length - pos < 16 + valueBytes) break;
      const noteLen = pending.readInt32BE(pos + 12 + valueBytes);
      const end = pos + 16 + valueBytes + Math.max(noteLen, 0);
      if (pending.length < end) break;
      records.push({
        offset: pending.readBigInt64BE(pos),
        value: valueLen < 0 ? null : pending.subarray(pos + 12, pos + 12 + valueLen),
        note: noteLen < 0 ? null : pending.toString('utf8', pos + 16 + valueBytes, end),
      });
      pos = end;
    }
    pending = pending.subarray(pos);
    if (records.length > 0) yield records;
  }
  if (pending.length > 0) throw new Error(`staging file ${file} ends inside a record (${pending.length} stray bytes)`);
}

export async function removeStaging(...files: string[]): Promise<void> {
  await Promise.all(files.map((f) => rm(f, { force: true })));
}
