import type { Admin, Consumer, Kafka } from 'kafkajs';
import { createKafka } from '../../src/kafka/client';
import { createLogger } from '../../src/runtime/logger';
import { createTopic, testConfig, uniqueTopic, waitFor } from '../support/helpers';

// Proves the test stack's broker does what kto relies on: consumer groups with committed offsets,
// and transactions (the single-node replication settings) that read_committed readers respect.
describe('local Kafka broker', () => {
  let kafka: Kafka;
  let admin: Admin;
  const consumers: Consumer[] = [];

  beforeAll(async () => {
    kafka = createKafka(testConfig().kafka, createLogger({ level: 'silent' }));
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await Promise.all(consumers.map((c) => c.disconnect()));
    await admin.disconnect();
  });

  async function consume(topic: string, groupId: string, readUncommitted = false): Promise<string[]> {
    const seen: string[] = [];
    const consumer = kafka.consumer({ groupId, readUncommitted });
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    return seen;
  }

  it('delivers produced records to a consumer group and keeps its committed offsets', async () => {
    const topic = await createTopic(admin, uniqueTopic('roundtrip'), 3);
    const groupId = `${topic}-group`;
    const count = 300;
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ key: `k${i % 17}`, value: `v${i}` })) });
    await producer.disconnect();

    const seen = await consume(topic, groupId);
    await waitFor(() => seen.length >= count, { description: `${count} records consumed` });
    expect(new Set(seen).size).toBe(count);

    const committed = await waitFor(async () => {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const total = offsets.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
      return total === count ? offsets.partitions : undefined;
    }, { description: `group ${groupId} to commit offsets summing to ${count}` });
    expect(committed).toHaveLength(3);
  });

  it('hides aborted transactions from read_committed consumers', async () => {
    const topic = await createTopic(admin, uniqueTopic('txn'), 1);
    const producer = kafka.producer({ transactionalId: `${topic}-tx`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const send = async (values: string[], outcome: 'commit' | 'abort') => {
      const tx = await producer.transaction();
      await tx.send({ topic, messages: values.map((value) => ({ value })) });
      await (outcome === 'commit' ? tx.commit() : tx.abort());
    };
    await send(['a1', 'a2'], 'commit');
    await send(['x1', 'x2'], 'abort');
    await send(['b1', 'end'], 'commit');
    await producer.disconnect();

    const committed = await consume(topic, `${topic}-committed`);
    const everything = await consume(topic, `${topic}-uncommitted`, true);
    await waitFor(() => committed.includes('end') && everything.includes('end'), { description: 'both consumers to reach the last record' });
    expect(committed).toEqual(['a1', 'a2', 'b1', 'end']);
    expect(everything).toEqual(['a1', 'a2', 'x1', 'x2', 'b1', 'end']);
  });
});
