import { setTimeout as sleep } from 'node:timers/promises';
import { backoffDelay } from '../runtime/backoff';
import { errorChain, KtoError } from '../runtime/errors';
import type { Admin, Kafka } from 'kafkajs';
import { lazilyConnected } from './client';
import { createStableOffsetReader, type CommittedPosition } from './offset-fetch';

export interface PartitionWatermarks {
  partition: number;
  /** First offset still in the log. */
  low: bigint;
  /** Offset the next record will get; the last record is `high - 1`. */
  high: bigint;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Extra topic configs, e.g. `{ 'cleanup.policy': 'compact' }`. */
  config?: Record<string, string>;
}

export interface TopicSummary {
  topic: string;
  partitions: number;
}

/**
 * The admin-side reads and writes kto needs. One admin connection is opened lazily and
 * shared; `close()` releases it.
 */
export function createKafkaAdmin(kafka: Kafka) {
  const admin = lazilyConnected(() => kafka.admin());
  const connected = (): Promise<Admin> => admin.get();

  const offsets = createStableOffsetReader(kafka);

  /** Partition ids of a topic, sorted; throws TopicNotFoundError when the topic does not exist. */
  async function partitions(topic: string): Promise<number[]> {
    const a = await connected();
    const { topics } = await a.fetchTopicMetadata({ topics: [topic] }).catch((err: unknown) => {
      throw translateMissingTopic(err, topic);
    });
    return topics[0].partitions.map((p) => p.partitionId).sort((x, y) => x - y);
  }

  return {
    /** Every topic with its partition count, sorted by name; internal topics (`__*`) left out. */
    async topics(): Promise<TopicSummary[]> {
      const { topics } = await (await connected()).fetchTopicMetadata();
      return topics
        .filter((t) => !t.name.startsWith('__'))
        .map((t) => ({ topic: t.name, partitions: t.partitions.length }))
        .sort((a, b) => a.topic.localeCompare(b.topic));
    },

    partitions,

    async watermarks(topic: string): Promise<PartitionWatermarks[]> {
      const a = await connected();
      const offsets = await a.fetchTopicOffsets(topic).catch((err: unknown) => {
        throw translateMissingTopic(err, topic);
      });
      return offsets
        .map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) }))
        .sort((x, y) => x.partition - y.partition);
    },

    /** The watermarks of one partition, read from its leader alone. */
    async watermark(topic: string, partition: number): Promise<PartitionWatermarks> {
      const { low, high } = await offsets.watermark(topic, partition).catch((err: unknown) => {
        throw translateMissingTopic(err, topic);
      });
      return { partition, low, high };
    },

    /** Per partition, the first offset whose timestamp is at or after `timestampMs` (the high watermark where none is). */
    async offsetsForTime(topic: string, timestampMs: number): Promise<Map<number, bigint>> {
      const a = await connected();
      const offsets = await a.fetchTopicOffsetsByTimestamp(topic, timestampMs).catch((err: unknown) => {
        throw translateMissingTopic(err, topic);
      });
      return new Map(offsets.map((o) => [o.partition, BigInt(o.offset)]));
    },

    /** The group's committed offset per partition; `null` where the group has none (never committed, or expired). */
    async committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint | null>> {
      const positions = await offsets.read(groupId, topic, await partitions(topic));
      return new Map([...positions].map(([p, { offset }]) => [p, offset]));
    },

    /**
     * The group's committed offset of one partition with the metadata string it was committed
     * with, once no transaction holds a commit of it pending (see offset-fetch.ts).
     */
    async committedPosition(groupId: string, topic: string, partition: number): Promise<CommittedPosition> {
      return (await offsets.read(groupId, topic, [partition])).get(partition) ?? { offset: null, metadata: null };
    },

    /**
     * Creates the topics that do not exist yet and waits until their leaders serve every
     * partition, so the caller's first produce or offset read does not race the broker's
     * metadata; existing ones are left as they are. A topic created meanwhile by someone else counts as
     * created (and is waited for too). Throws TopicNotReadyError when a created topic has not
     * settled by the deadline, which grows with the partition count (about 40 s for 1,024).
     */
    async ensureTopics(specs: TopicSpec[], options: EnsureTopicsOptions = {}): Promise<void> {
      const a = await connected();
      const existing = new Set(await a.listTopics());
      const missing = specs.filter((s) => !existing.has(s.topic));
      if (missing.length === 0) return;
      const timeoutMs = options.settleTimeoutMs ?? settleTimeoutMs(missing.reduce((sum, s) => sum + s.partitions, 0));
      const deadline = Date.now() + timeoutMs;
      await a
        .createTopics({
          // kafkajs waits on one broker and gives up on the first UNKNOWN_TOPIC_OR_PARTITION; settle() waits properly.
          waitForLeaders: false,
          timeout: Math.min(timeoutMs, CREATE_REQUEST_TIMEOUT_MS),
          topics: missing.map((s) => ({
            topic: s.topic,
            numPartitions: s.partitions,
            configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
          })),
        })
        .catch((err: unknown) => {
          // Another creator won the race (kafkajs passes that through only when every topic raced),
          // or the broker is still creating them: either way the topic is on its way.
          const errors = (err as { errors?: Array<{ type?: string }> }).errors;
          if (!Array.isArray(errors) || errors.some((e) => !CREATED_ANYWAY.has(e.type ?? ''))) throw err;
        });
      await settle(a, missing, deadline, timeoutMs);
    },

    /** Ids of every consumer group the cluster knows, sorted. */
    async groups(): Promise<string[]> {
      const { groups } = await (await connected()).listGroups();
      return groups.map((g) => g.groupId).sort();
    },

    async deleteGroup(groupId: string): Promise<void> {
      const a = await connected();
      await a.deleteGroups([groupId]).catch(() => undefined);
    },

    async close(): Promise<void> {
      const a = admin.take();
      await Promise.all([a && (await a).disconnect(), offsets.close()]);
    },
  };
}

export type KafkaAdmin = ReturnType<typeof createKafkaAdmin>;

export interface EnsureTopicsOptions {
  /** How long created topics get until every partition is served by its leader. @default 10 s + 30 ms per partition */
  settleTimeoutMs?: number;
}

/** The broker-side timeout of the create request itself; settle() waits for the rest. */
const CREATE_REQUEST_TIMEOUT_MS = 25_000;
/** Per-topic answers of a create request after which the topic exists or soon will. */
const CREATED_ANYWAY = new Set(['TOPIC_ALREADY_EXISTS', 'REQUEST_TIMED_OUT']);
/** What a broker answers about a topic it has not fully taken in yet. */
const NOT_YET = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'REPLICA_NOT_AVAILABLE']);

/** Time created topics get to settle; a single broker takes a few seconds for 1,024 partitions. */
export const settleTimeoutMs = (partitions: number): number => 10_000 + 30 * partitions;

/** What a topic still lacks in the metadata, or null once every partition has a leader. */
function unsettled(partitions: Array<{ partitionErrorCode: number; leader: number }> | undefined): string | null {
  if (!partitions || partitions.length === 0) return 'not in the metadata yet';
  const leaderless = partitions.filter((p) => p.partitionErrorCode !== 0 || p.leader < 0).length;
  if (leaderless > 0) return `${leaderless} of ${partitions.length} partitions without a leader`;
  // A topic someone else created first may have another count; it is settled all the same.
  return null;
}

/**
 * Null once `topic` is served, else what it still lacks. Metadata can name a leader before that
 * broker serves the partition (NOT_LEADER_FOR_PARTITION), so an offsets request to every leader
 * has the last word.
 */
async function served(admin: Admin, topic: string): Promise<string | null> {
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    const gap = unsettled(topics.find((t) => t.name === topic)?.partitions);
    if (gap !== null) return gap;
    // Right after a create, kafkajs' cached metadata can lack the topic: its offsets read then
    // fails with a TypeError (the empty answer of a partition list it did not have).
    const offsets = await admin.fetchTopicOffsets(topic).catch((err: unknown) => {
      if (err instanceof TypeError) return [];
      throw err;
    });
    return offsets.length === 0 ? 'offsets not served yet' : null;
  } catch (err) {
    const type = (err as { type?: string }).type ?? '';
    if (NOT_YET.has(type)) return type;
    throw err;
  }
}

/** Polls until every partition of `specs` is served by its leader, retrying the answers of a broker still catching up. */
async function settle(admin: Admin, specs: TopicSpec[], deadline: number, timeoutMs: number): Promise<void> {
  let waiting = specs.map((s) => s.topic);
  for (let attempt = 0; ; attempt++) {
    const states = await Promise.all(waiting.map(async (topic) => ({ topic, gap: await served(admin, topic) })));
    const open = states.filter((s) => s.gap !== null);
    if (open.length === 0) return;
    waiting = open.map((s) => s.topic);
    if (Date.now() >= deadline) throw new TopicNotReadyError(waiting, timeoutMs, open.map((s) => `${s.topic}: ${s.gap}`).join('; '));
    await sleep(Math.min(backoffDelay(attempt, { initialMs: 100, maxMs: 2_000 }), Math.max(0, deadline - Date.now())));
  }
}

export class TopicNotFoundError extends KtoError {
  constructor(readonly topic: string) {
    super(`Kafka topic "${topic}" does not exist. Fix: create it (e.g. \`kto topics create ${topic} --partitions N\`) or correct the name.`, { type: 'TopicNotFound' });
    this.name = 'TopicNotFoundError';
  }
}

/** Created topics whose partitions did not all get a leader in time. */
export class TopicNotReadyError extends KtoError {
  constructor(
    readonly topics: string[],
    timeoutMs: number,
    lastSeen: string,
  ) {
    super(
      `Kafka topic ${topics.map((t) => `"${t}"`).join(', ')} was created but not ready after ${Math.round(timeoutMs / 1000)} s (${lastSeen}). Fix: check that every broker is up (\`kto topics list\` shows the topic once the brokers agree), then run again; creating it again is safe`,
      { type: 'TopicNotReady', retryable: true },
    );
    this.name = 'TopicNotReadyError';
  }
}

function translateMissingTopic(err: unknown, topic: string): unknown {
  for (const e of errorChain(err)) if (e.type === 'UNKNOWN_TOPIC_OR_PARTITION') return new TopicNotFoundError(topic);
  return err;
}
