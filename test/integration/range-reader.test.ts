import { CompressionTypes, type Admin, type Kafka } from 'kafkajs';
import { createKafkaIo, type KafkaIo, type RecordBlock } from '../../src/kafka';
import { createLogger } from '../../src/runtime/logger';
import { createTopic, testConfig, uniqueTopic, waitFor } from '../support/helpers';

// The batch's consume step reads its range with Fetch requests decoded in place, without a consumer
// group. These tests hold its output to what a kafkajs read_committed consumer sees of the same
// partition: committed, aborted and interleaved transactions, compressed batches, null values,
// ranges that start and end inside batches, and fetches cut short inside a batch.
describe('range reader (Fetch without a consumer group)', () => {
  const logger = createLogger({ level: 'silent' });
  let io: KafkaIo;
  let kafka: Kafka;
  let admin: Admin;

  beforeAll(async () => {
    io = createKafkaIo(testConfig().kafka, logger);
    kafka = io.client;
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await admin.disconnect();
    await io.close();
  });

  interface Seen {
    offset: string;
    key: string | null;
    value: string | null;
    timestamp: string;
  }

  async function readWithReader(topic: string, from: bigint, to: bigint, fetchBytes?: number): Promise<Seen[]> {
    const seen: Seen[] = [];
    await io.readRange({
      topic,
      partition: 0,
      from,
      to,
      ...(fetchBytes && { fetchBytes }),
      onRecords: async (block: RecordBlock) => {
        for (let i = 0; i < block.length; i++) {
          seen.push({ offset: String(block.offset(i)), key: block.key(i)?.toString() ?? null, value: block.value(i)?.toString() ?? null, timestamp: String(block.timestamp(i)) });
        }
      },
    });
    return seen;
  }

  async function readWithConsumer(topic: string, end: bigint): Promise<Seen[]> {
    const seen: Seen[] = [];
    const consumer = kafka.consumer({ groupId: `${topic}-check`, readUncommitted: false });
    await consumer.connect();
    try {
      let last = -1n;
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) seen.push({ offset: m.offset, key: m.key?.toString() ?? null, value: m.value?.toString() ?? null, timestamp: m.timestamp });
          last = BigInt(batch.lastOffset());
        },
      });
      await waitFor(() => last >= end - 1n, { description: `the consumer to pass offset ${end - 1n}` });
    } finally {
      await consumer.disconnect();
    }
    return seen;
  }

  async function writeMixedPartition(topic: string): Promise<void> {
    const plain = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    const txA = kafka.producer({ transactionalId: `${topic}-a`, idempotent: true, maxInFlightRequests: 1 });
    const txB = kafka.producer({ transactionalId: `${topic}-b`, idempotent: true, maxInFlightRequests: 1 });
    await Promise.all([plain.connect(), txA.connect(), txB.connect()]);
    const values = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ key: `${prefix}-k${i % 3}`, value: `${prefix}-${i}` }));
    await plain.send({ topic, messages: values('plain', 7), acks: -1 });
    await plain.send({ topic, messages: [{ key: null, value: null }, { key: 'tombstone', value: null }], acks: -1 });
    // A committed transaction interleaved with an aborted one of another producer.
    const a1 = await txA.transaction();
    const b1 = await txB.transaction();
    await a1.send({ topic, messages: values('a1', 5) });
    await b1.send({ topic, messages: values('b1-aborted', 6) });
    await a1.send({ topic, messages: values('a1-more', 4) });
    await b1.abort();
    await a1.commit();
    await plain.send({ topic, messages: values('gzip', 40), compression: CompressionTypes.GZIP, acks: -1 });
    // The aborting producer commits later: its earlier abort must not hide these.
    const b2 = await txB.transaction();
    await b2.send({ topic, messages: values('b2', 3) });
    await b2.commit();
    const a2 = await txA.transaction();
    await a2.send({ topic, messages: values('a2-aborted', 8), compression: CompressionTypes.GZIP });
    await a2.abort();
    await plain.send({ topic, messages: values('tail', 5), acks: -1 });
    await Promise.all([plain.disconnect(), txA.disconnect(), txB.disconnect()]);
  }

  it('delivers what a read_committed consumer sees, for every range and fetch size', async () => {
    const topic = await createTopic(admin, uniqueTopic('range-reader'), 1);
    await writeMixedPartition(topic);
    const [{ high }] = await io.admin.watermarks(topic);
    const expected = await readWithConsumer(topic, high);
    expect(expected.map((r) => r.value)).not.toContain('b1-aborted-0');
    expect(expected).toHaveLength(7 + 2 + 9 + 40 + 3 + 5);

    expect(await readWithReader(topic, 0n, high - 1n)).toEqual(expected);
    // Fetches that end inside batches, one batch per answer at most.
    expect(await readWithReader(topic, 0n, high - 1n, 64)).toEqual(expected);

    // Ranges that start and end inside batches (plain, transactional and compressed ones).
    for (const [i, j] of [
      [3, 20],
      [9, 35],
      [30, expected.length - 1],
      [expected.length - 1, expected.length - 1],
    ]) {
      const from = BigInt(expected[i].offset);
      const to = BigInt(expected[j].offset);
      expect(await readWithReader(topic, from, to)).toEqual(expected.slice(i, j + 1));
      expect(await readWithReader(topic, from, to, 100)).toEqual(expected.slice(i, j + 1));
    }
  });

  it('fails a read whose start retention deleted, and one whose expected record is gone', async () => {
    const topic = await createTopic(admin, uniqueTopic('range-reader-deleted'), 1);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ value: `v${i}` })), acks: -1 });
    await producer.disconnect();
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '10' }] });

    await expect(readWithReader(topic, 5n, 19n)).rejects.toMatchObject({ type: 'OffsetsOutOfRange', message: expect.stringContaining('no longer holds offset 5') });
    await expect(
      io.readRange({ topic, partition: 0, from: 6n, to: 19n, expect: { offset: 5n, timestamp: '0' }, onRecords: async () => undefined }),
    ).rejects.toMatchObject({ type: 'PartitionReplaced' });
    expect((await readWithReader(topic, 10n, 19n)).map((r) => r.value)).toEqual(Array.from({ length: 10 }, (_, i) => `v${i + 10}`));
  });
});
