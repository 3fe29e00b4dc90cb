import { KtoError } from '../runtime/errors';
import type { Admin, Kafka } from 'kafkajs';
import { lazilyConnected } from './client';

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

  /** The group's committed offset per partition with the metadata string it was committed with. */
  async function committedPositions(groupId: string, topic: string): Promise<Map<number, { offset: bigint | null; metadata: string | null }>> {
    const a = await connected();
    const [result] = await a.fetchOffsets({ groupId, topics: [topic] });
    return new Map(result.partitions.map((p) => [p.partition, { offset: p.offset === '-1' ? null : BigInt(p.offset), metadata: p.metadata || null }]));
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

    /** Partition ids of a topic, sorted; throws TopicNotFoundError when the topic does not exist. */
    async partitions(topic: string): Promise<number[]> {
      const a = await connected();
      const { topics } = await a.fetchTopicMetadata({ topics: [topic] }).catch((err: unknown) => {
        throw translateMissingTopic(err, topic);
      });
      return topics[0].partitions.map((p) => p.partitionId).sort((x, y) => x - y);
    },

    async watermarks(topic: string): Promise<PartitionWatermarks[]> {
      const a = await connected();
      const offsets = await a.fetchTopicOffsets(topic).catch((err: unknown) => {
        throw translateMissingTopic(err, topic);
      });
      return offsets
        .map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) }))
        .sort((x, y) => x.partition - y.partition);
    },

    /** The group's committed offset per partition; `null` where the group has none (never committed, or expired). */
    async committedOffsets(groupId: string, topic: string): Promise<Map<number, bigint | null>> {
      const positions = await committedPositions(groupId, topic);
      return new Map([...positions].map(([p, { offset }]) => [p, offset]));
    },

    committedPositions,

    /** Creates the topics that do not exist yet; existing ones are left as they are. */
    async ensureTopics(specs: TopicSpec[]): Promise<void> {
      const a = await connected();
      const existing = new Set(await a.listTopics());
      const missing = specs.filter((s) => !existing.has(s.topic));
      if (missing.length === 0) return;
      await a.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.topic,
          numPartitions: s.partitions,
          configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
        })),
      });
    },

    async deleteGroup(groupId: string): Promise<void> {
      const a = await connected();
      await a.deleteGroups([groupId]).catch(() => undefined);
    },

    async close(): Promise<void> {
      const a = admin.take();
      if (a) await (await a).disconnect();
    },
  };
}

export type KafkaAdmin = ReturnType<typeof createKafkaAdmin>;

export class TopicNotFoundError extends KtoError {
  constructor(readonly topic: string) {
    super(`Kafka topic "${topic}" does not exist. Fix: create it (e.g. \`kto topics create ${topic} --partitions N\`) or correct the name.`, { type: 'TopicNotFound' });
    this.name = 'TopicNotFoundError';
  }
}

function translateMissingTopic(err: unknown, topic: string): unknown {
  const type = (err as { type?: string }).type;
  return type === 'UNKNOWN_TOPIC_OR_PARTITION' ? new TopicNotFoundError(topic) : err;
}
