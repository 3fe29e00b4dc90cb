import { Partitioners, type Message, type ProducerBatch, type RecordMetadata } from 'kafkajs';
import { coordinatorGone } from '../../src/kafka/group-consumer';
import { TopicNotFoundError } from '../../src/kafka';
import { createPlacer, placeAndSend, sendEvery, type BatchSender } from '../../src/kafka/send';

/** A sender whose first answer for each of the `dropped` partitions leaves it out, as kafkajs does after a leader move. */
function droppingSender(dropped: string[]) {
  const requests: { topic: string; partition: number; count: number }[][] = [];
  const sender: BatchSender = {
    async sendBatch({ topicMessages }: ProducerBatch): Promise<RecordMetadata[]> {
      const sent = (topicMessages ?? []).flatMap(({ topic, messages }) => {
        const counts = new Map<number, number>();
        for (const m of messages) counts.set(m.partition!, (counts.get(m.partition!) ?? 0) + 1);
        return [...counts].map(([partition, count]) => ({ topic, partition, count }));
      });
      const answered = sent.filter((s) => !dropped.includes(`${s.topic}[${s.partition}]`) || requests.flat().some((r) => r.topic === s.topic && r.partition === s.partition));
      requests.push(sent);
      return answered.map((s) => ({ topicName: s.topic, partition: s.partition, errorCode: 0, baseOffset: '0' }));
    },
  };
  return { sender, requests };
}

const records = [0, 1, 2].flatMap((partition) => [1, 2].map((n) => ({ topic: 't', partition, key: null, value: `${partition}.${n}` })));

describe('sendEvery', () => {
  test('sends again, once, the records of the partitions an answer left out', async () => {
    const { sender, requests } = droppingSender(['t[1]']);
    const answers = await sendEvery(sender, records);
    expect(requests).toEqual([
      [{ topic: 't', partition: 0, count: 2 }],
      [{ topic: 't', partition: 1, count: 2 }],
      [{ topic: 't', partition: 2, count: 2 }],
      [{ topic: 't', partition: 1, count: 2 }],
    ]);
    expect(answers.map((a) => a.partition).sort()).toEqual([0, 1, 2]);
  });

  test('sends each partition on its own and, when one send fails, fails only after the others settled', async () => {
    const settled: number[] = [];
    const sender: BatchSender = {
      async sendBatch({ topicMessages }: ProducerBatch): Promise<RecordMetadata[]> {
        const [{ topic, messages }] = topicMessages ?? [];
        expect(topicMessages).toHaveLength(1);
        expect(new Set(messages.map((m) => m.partition)).size).toBe(1);
        const partition = messages[0].partition!;
        if (partition === 0) throw new Error('Closed connection');
        await new Promise((resolve) => setTimeout(resolve, 20));
        settled.push(partition);
        return [{ topicName: topic, partition, errorCode: 0, baseOffset: '0' }];
      },
    };
    await expect(sendEvery(sender, records)).rejects.toThrow('Closed connection');
    expect(settled.sort()).toEqual([1, 2]);
  });

  test('fails with the partitions named when the broker never acknowledges them', async () => {
    const sender: BatchSender = { sendBatch: async () => [] };
    await expect(sendEvery(sender, records)).rejects.toThrow(/t\[0\], t\[1\], t\[2\] in none of 6 sends/);
  });
});

describe('createPlacer', () => {
  const placer = () => createPlacer({ partitions: async () => [0, 1, 2, 3, 4, 5] });

  test('places a keyed record where kafkajs (and the Java client) would, and keeps a given partition', async () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    const partitionMetadata = [0, 1, 2, 3, 4, 5].map((partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [], isr: [] }));
    const keys = Array.from({ length: 50 }, (_, i) => `key-${i}`);
    const placed = await placer().place(keys.map((key) => ({ topic: 't', key, value: 'v' })));
    expect(placed.map((r) => r.partition)).toEqual(keys.map((key) => kafkajs({ topic: 't', partitionMetadata, message: { key, value: 'v' } as Message })));
    expect((await placer().place([{ topic: 't', partition: 4, key: 'key-0', value: 'v' }]))[0].partition).toBe(4);
  });

  test('spreads records without a key over every partition, each placed once', async () => {
    const placed = await placer().place(Array.from({ length: 12 }, (_, i) => ({ topic: 't', key: null, value: String(i) })));
    expect(new Set(placed.map((r) => r.partition))).toEqual(new Set([0, 1, 2, 3, 4, 5]));
  });
});

describe('placeAndSend', () => {
  test('leaves records for a topic the brokers do not know yet to kafkajs, which may have the broker create it', async () => {
    const batches: ProducerBatch[] = [];
    const sender: BatchSender = { sendBatch: async (batch) => (batches.push(batch), []) };
    const placer = createPlacer({ partitions: async (topic) => Promise.reject(new TopicNotFoundError(topic)) });
    await placeAndSend(sender, placer, [{ topic: 'new', key: 'k', value: 'v' }]);
    expect(batches).toEqual([{ topicMessages: [{ topic: 'new', messages: [{ key: 'k', value: 'v' }] }] }]);
  });
});

describe('coordinatorGone', () => {
  test('names the errors of a dead or moved coordinator, also wrapped by a retrier', () => {
    expect(coordinatorGone(Object.assign(new Error('Broker 3 not found in the cached metadata'), { name: 'KafkaJSBrokerNotFound' }))).toBe(true);
    expect(coordinatorGone({ name: 'KafkaJSNumberOfRetriesExceeded', cause: { name: 'KafkaJSConnectionError' } })).toBe(true);
    expect(coordinatorGone({ name: 'KafkaJSProtocolError', type: 'NOT_COORDINATOR_FOR_GROUP' })).toBe(true);
    expect(coordinatorGone({ name: 'KafkaJSProtocolError', type: 'REBALANCE_IN_PROGRESS' })).toBe(false);
  });
});
