import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { backoffDelay } from '../runtime/backoff';
import { KtoError } from '../runtime/errors';
import { lazilyConnected } from './client';
import { createInternalCluster, withLeaderRetry } from './internal-cluster';

/**
 * Committed offsets read the way a read_committed Java consumer reads them: OffsetFetch v7 with
 * `require_stable` (KIP-447). Without it (kafkajs speaks OffsetFetch v4 at most) the group
 * coordinator answers with the last materialised offset and ignores a commit still pending in
 * a transaction. A transaction's offsets are materialised on the coordinator's own schedule,
 * after the transaction's markers are written: a reader that fenced the transaction (its
 * InitProducerId returned) can still see the offset from before it, most of all right after a
 * coordinator moved. With `require_stable` the coordinator answers UNSTABLE_OFFSET_COMMIT
 * instead, and the read waits until the commit has landed. Invariant 2 (docs/design.md).
 */

export interface CommittedPosition {
  /** Null when the group has no offset for the partition. */
  offset: bigint | null;
  metadata: string | null;
}

/** Request and answer bodies of OffsetFetch v7 (flexible: compact strings and tagged fields). */
const OFFSET_FETCH = { apiKey: 9, apiVersion: 7 } as const;

/** Error codes of the answer that a later read outgrows; the others end the read. */
const WAIT = new Map([
  [14, 'COORDINATOR_LOAD_IN_PROGRESS'],
  [15, 'COORDINATOR_NOT_AVAILABLE'],
  [16, 'NOT_COORDINATOR'],
  [88, 'UNSTABLE_OFFSET_COMMIT'],
]);
/** Codes after which the coordinator is looked up again. */
const MOVED = new Set([15, 16]);

function uvarint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

const compactString = (s: string): Buffer => Buffer.concat([uvarint(Buffer.byteLength(s) + 1), Buffer.from(s)]);
const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const NO_TAGS = uvarint(0);

/** The request body, starting with the tagged fields of request header v2 (kafkajs writes header v1). */
export function encodeOffsetFetch(groupId: string, topic: string, partitions: number[], requireStable: boolean): Buffer {
  return Buffer.concat([
    NO_TAGS,
    compactString(groupId),
    uvarint(2), // one topic
    compactString(topic),
    uvarint(partitions.length + 1),
    ...partitions.map(int32),
    NO_TAGS,
    Buffer.from([requireStable ? 1 : 0]),
    NO_TAGS,
  ]);
}

export interface OffsetFetchAnswer {
  errorCode: number;
  partitions: { partition: number; offset: bigint; metadata: string | null; errorCode: number }[];
}

/** The answer body, starting with the tagged fields of response header v1. */
export function decodeOffsetFetch(body: Buffer): OffsetFetchAnswer {
  let at = 0;
  const readUVarInt = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = body[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  const skipTags = (): void => {
    for (let n = readUVarInt(); n > 0; n--) {
      readUVarInt(); // tag
      const size = readUVarInt();
      at += size;
    }
  };
  const readString = (): string | null => {
    const length = readUVarInt() - 1;
    if (length < 0) return null;
    const s = body.toString('utf8', at, at + length);
    at += length;
    return s;
  };
  const readInt16 = () => ((at += 2), body.readInt16BE(at - 2));
  const readInt32 = () => ((at += 4), body.readInt32BE(at - 4));

  skipTags();
  readInt32(); // throttle_time_ms
  const partitions: OffsetFetchAnswer['partitions'] = [];
  for (let topics = readUVarInt() - 1; topics > 0; topics--) {
    readString();
    for (let n = readUVarInt() - 1; n > 0; n--) {
      const partition = readInt32();
      const offset = body.readBigInt64BE(at);
      at += 8;
      readInt32(); // committed_leader_epoch
      const metadata = readString();
      const errorCode = readInt16();
      skipTags();
      partitions.push({ partition, offset, metadata, errorCode });
    }
    skipTags();
  }
  return { errorCode: readInt16(), partitions };
}

/** How long a read waits for a pending commit to land before giving up. */
const STABLE_WITHIN_MS = 60_000;

/**
 * Reads committed offsets with `require_stable`, on a kafkajs cluster connection of its own,
 * retrying while the coordinator loads, moves or holds a commit pending in a transaction.
 */
export function createStableOffsetReader(kafka: Kafka) {
  const cluster = lazilyConnected(() => createInternalCluster(kafka));
  const connected = () => cluster.get();

  async function fetchOnce(groupId: string, topic: string, partitions: number[]): Promise<OffsetFetchAnswer> {
    const c = await connected();
    const coordinator = await c.findGroupCoordinator({ groupId });
    const body = encodeOffsetFetch(groupId, topic, partitions, true);
    return (await coordinator.connectionPool.send({
      request: { ...OFFSET_FETCH, apiName: 'OffsetFetch', encode: async () => ({ buf: body, buffer: body }) },
      response: { decode: async (raw: Buffer) => decodeOffsetFetch(raw), parse: async (answer: OffsetFetchAnswer) => answer },
    })) as OffsetFetchAnswer;
  }

  return {
    async read(groupId: string, topic: string, partitions: number[]): Promise<Map<number, CommittedPosition>> {
      const deadline = Date.now() + STABLE_WITHIN_MS;
      let last = '';
      for (let attempt = 0; ; attempt++) {
        try {
          const answer = await fetchOnce(groupId, topic, partitions);
          const codes = [answer.errorCode, ...answer.partitions.map((p) => p.errorCode)].filter((code) => code !== 0);
          const fatal = codes.find((code) => !WAIT.has(code));
          if (fatal !== undefined) throw new KtoError(`Kafka refused to read the committed offsets of group "${groupId}" on "${topic}" (error code ${fatal}). Fix: check the group's ACLs and that the brokers run Kafka 2.5 or later.`, { type: 'OffsetFetchFailed' });
          if (codes.length === 0) return new Map(answer.partitions.map((p) => [p.partition, { offset: p.offset < 0n ? null : p.offset, metadata: p.metadata || null }]));
          last = codes.map((code) => WAIT.get(code)).join(', ');
          if (codes.some((code) => MOVED.has(code))) await (await connected()).refreshMetadata();
        } catch (err) {
          if (err instanceof KtoError) throw err;
          last = (err as Error).message;
        }
        if (Date.now() >= deadline) {
          throw new KtoError(
            `the committed offsets of group "${groupId}" on "${topic}" did not settle within ${STABLE_WITHIN_MS / 1000} s (${last}). Fix: check that the brokers are up; a transaction that holds an offset commit settles when it commits, aborts or times out.`,
            { type: 'OffsetsUnstable', retryable: true },
          );
        }
        await sleep(backoffDelay(attempt, { initialMs: 50, maxMs: 2_000 }));
      }
    },

    /**
     * The low and high watermark of one partition (the high one as a read_committed consumer
     * sees it). kafkajs' admin reads every partition of the topic for each call, and a run over
     * a topic of 1,024 partitions makes thousands of these reads.
     */
    async watermark(topic: string, partition: number): Promise<{ low: bigint; high: bigint }> {
      return withLeaderRetry(connected, topic, async (c) => {
        const offsetAt = async (fromBeginning: boolean): Promise<bigint> => {
          const answer = await c.fetchTopicsOffset([{ topic, fromBeginning, partitions: [{ partition }] }]);
          const found = answer.find((t) => t.topic === topic)?.partitions.find((p) => p.partition === partition);
          if (!found) throw new KtoError(`topic "${topic}" has no partition ${partition}.`, { type: 'UnknownPartition' });
          return BigInt(found.offset);
        };
        const [low, high] = await Promise.all([offsetAt(true), offsetAt(false)]);
        return { low, high };
      });
    },

    async close(): Promise<void> {
      const c = cluster.take();
      if (c) await (await c.catch(() => undefined))?.disconnect();
    },
  };
}
