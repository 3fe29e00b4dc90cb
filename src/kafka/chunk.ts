import type { OutboundRecord } from './transactional';

/** Below the broker's default `message.max.bytes` (1 MiB), with room for batch overhead. */
const MAX_REQUEST_BYTES = 768 * 1024;
const MAX_RECORDS = 5_000;

type Sized = Pick<OutboundRecord, 'key' | 'value'>;

const sizeOf = (v: string | Buffer | null): number => (v === null ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length);

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
      const size = sizeOf(record.key) + sizeOf(record.value) + 64;
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
