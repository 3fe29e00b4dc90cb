import { Partitioners, type Message, type PartitionMetadata, type ProducerBatch, type RecordMetadata } from 'kafkajs';
import { KtoError } from '../runtime/errors';
import { TopicNotFoundError, type KafkaAdmin } from './admin';
import type { OutboundRecord } from './transactional';

/**
 * Why kto places records and checks every send itself: kafkajs keeps a multi-partition send's
 * progress per broker. When, during a send, a partition's leadership moves to a broker that
 * already answered for its own partitions, kafkajs retries without that partition and reports
 * success: its records are dropped. A retry also places unkeyed records again, so a record can
 * land in two partitions. And when one broker's request fails while another's is still in
 * flight, the retry sends the second broker's partitions again under new sequence numbers
 * once the first copy landed: the broker keeps both. So every record gets its partition before
 * the first attempt, each partition goes to kafkajs in a send of its own (one broker request
 * per attempt, whose sequence numbers a failure rolls back), and the partitions an answer does
 * not name are sent again; the broker drops what of them did land (idempotence).
 */

/** A producer or an open transaction: both send the same way. */
export interface BatchSender {
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]>;
}

/** How often the partitions an answer left out are sent again before the send fails. */
const RESENDS = 5;

const placeOf = (topic: string, partition: number) => `${topic}\n${partition}`;

/**
 * Sends records that all name their partition; resolves once the broker acknowledged every
 * partition of them, with one answer per topic-partition and request. Invariant 10 (docs/design.md).
 */
export async function sendEvery(sender: BatchSender, records: OutboundRecord[], acks?: number): Promise<RecordMetadata[]> {
  const answers: RecordMetadata[] = [];
  let pending = records;
  for (let resend = 0; pending.length > 0; resend++) {
    if (resend > RESENDS) {
      const places = [...new Set(pending.map((r) => `${r.topic}[${r.partition}]`))].join(', ');
      throw new KtoError(`Kafka acknowledged the records of ${places} in none of ${RESENDS + 1} sends. Fix: check that the brokers are up and their leaders elected (kafka-topics --describe), then retry.`, { type: 'SendIncomplete' });
    }
    const sent = await sendEachPartition(sender, pending, acks);
    answers.push(...sent);
    const answered = new Set(sent.map((m) => placeOf(m.topicName, m.partition)));
    pending = pending.filter((r) => !answered.has(placeOf(r.topic, r.partition)));
  }
  return answers;
}

/** One kafkajs send per partition, all at once; settles only when none is in flight any more. */
async function sendEachPartition(sender: BatchSender, records: OutboundRecord[], acks?: number): Promise<RecordMetadata[]> {
  const byPartition = new Map<string, OutboundRecord[]>();
  for (const r of records) {
    const place = placeOf(r.topic, r.partition);
    let list = byPartition.get(place);
    if (!list) byPartition.set(place, (list = []));
    list.push(r);
  }
  const sends = await Promise.allSettled(
    [...byPartition.values()].map((part) => sender.sendBatch({ ...(acks !== undefined && { acks }), topicMessages: groupByTopic(part) as { topic: string; messages: Message[] }[] })),
  );
  const failed = sends.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return sends.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
}

function groupByTopic<T extends { topic: string }>(records: T[]) {
  const byTopic = new Map<string, Omit<T, 'topic'>[]>();
  for (const { topic, ...message } of records) {
    let list = byTopic.get(topic);
    if (!list) byTopic.set(topic, (list = []));
    list.push(message);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

/** How long a topic's partition count is trusted before it is read again (kafkajs' metadata max age). */
const COUNT_TTL_MS = 5 * 60_000;

/**
 * Gives each record without a partition the one kafkajs' default partitioner would: the Java
 * client's murmur2 hash of the key, round robin for records without a key.
 */
export function createPlacer(admin: Pick<KafkaAdmin, 'partitions'>) {
  const partitioner = Partitioners.DefaultPartitioner();
  const known = new Map<string, { metadata: PartitionMetadata[]; at: number }>();

  async function metadataOf(topic: string): Promise<PartitionMetadata[]> {
    const cached = known.get(topic);
    if (cached && Date.now() - cached.at < COUNT_TTL_MS) return cached.metadata;
    const metadata = (await admin.partitions(topic)).map((partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [], isr: [] }));
    known.set(topic, { metadata, at: Date.now() });
    return metadata;
  }

  return {
    async place<T extends { topic: string; partition?: number; key: string | Buffer | null; value: string | Buffer | null }>(records: T[]): Promise<(T & { partition: number })[]> {
      const placed: (T & { partition: number })[] = [];
      for (const record of records) {
        if (record.partition !== undefined) {
          placed.push(record as T & { partition: number });
          continue;
        }
        const partitionMetadata = await metadataOf(record.topic);
        placed.push({ ...record, partition: partitioner({ topic: record.topic, partitionMetadata, message: record as Message }) });
      }
      return placed;
    },
    /** Forgets what was read of a topic, e.g. after a send to it failed. */
    forget(topics: Iterable<string>): void {
      for (const topic of topics) known.delete(topic);
    },
  };
}

export type Placer = ReturnType<typeof createPlacer>;

/**
 * Places `records` and sends them with `sendEvery`. Records for a topic the brokers do not
 * know yet go to kafkajs as they are: its producer asks the broker to create the topic
 * (`auto.create.topics.enable`) and places them itself; later writes find the topic.
 */
export async function placeAndSend(sender: BatchSender, placer: Placer, records: (Omit<OutboundRecord, 'partition'> & { partition?: number })[], acks?: number): Promise<RecordMetadata[]> {
  let placed: OutboundRecord[];
  try {
    placed = await placer.place(records);
  } catch (err) {
    if (!(err instanceof TopicNotFoundError)) throw err;
    return sender.sendBatch({ ...(acks !== undefined && { acks }), topicMessages: groupByTopic(records) as { topic: string; messages: Message[] }[] });
  }
  try {
    return await sendEvery(sender, placed, acks);
  } catch (err) {
    placer.forget(records.map((r) => r.topic));
    throw err;
  }
}
