import type { OutboundRecord } from './transactional';

/** Below the broker's default `message.max.bytes` (1 MiB), with room for batch overhead. */
const MAX_REQUEST_BYTES = 768 * 1024;
const MAX_RECORDS = 5_000;

type Sized = Pick<OutboundRecord, 'key' | 'value' | 'headers'>;

type HeaderValue = NonNullable<OutboundRecord['headers']>[string];

const bytesOf = (v: string | Buffer | null | undefined): number => (v == null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length);
const headerBytes = (v: HeaderValue): number => (Array.isArray(v) ? v.reduce((n: number, x: string | Buffer) => n + bytesOf(x) + HEADER_OVERHEAD, 0) : bytesOf(v));

/** Varint lengths, attributes and deltas of one record in Kafka's v2 format, rounded up. */
const RECORD_OVERHEAD = 32;
/** Varint lengths of one header's key and value. */
const HEADER_OVERHEAD = 10;

/** What one record adds to a produce request once encoded: key, value and headers, not only the value. */
export function encodedSize(record: Sized): number {
  let size = RECORD_OVERHEAD + bytesOf(record.key) + bytesOf(record.value);
  for (const [name, value] of Object.entries(record.headers ?? {})) size += HEADER_OVERHEAD + Buffer.byteLength(name) + headerBytes(value);
  return size;
}

/**
 * Collects records into produce requests the broker accepts: kafkajs sends one request per
 * `send`, so records must be cut by bytes, not only by count. `add` hands back a full chunk
 * when the next record would not fit; `flush` hands back the rest.
 */
function createChunker<T extends Sized>() {
  let chunk: T[] = [];
  let bytes = 0;
  return {
    add(record: T): T[] | undefined {
      const size = encodedSize(record);
      let full: T[] | undefined;
      if (chunk.length > 0 && (bytes + size > MAX_REQUEST_BYTES || chunk.length >= MAX_RECORDS)) {
        full = chunk;
        chunk = [];
        bytes = 0;
      }
      chunk.push(record);
      bytes += size;
      return full;
    },
    flush(): T[] | undefined {
      const rest = chunk;
      chunk = [];
      bytes = 0;
      return rest.length > 0 ? rest : undefined;
    },
  };
}

/** Cuts records (an array or a stream) into produce requests. */
export async function* chunkRecords<T extends Sized>(records: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T[]> {
  const chunker = createChunker<T>();
  for await (const record of records) {
    const full = chunker.add(record);
    if (full) yield full;
  }
  const rest = chunker.flush();
  if (rest) yield rest;
}
