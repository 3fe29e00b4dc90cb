import { createTopic } from '../../src/cli/topics';
import { createKafkaIo, type KafkaIo } from '../../src/kafka';
import { createLogger } from '../../src/runtime/logger';
import { testConfig, uniqueTopic } from '../support/helpers';

// Creating a topic returns once the broker serves every partition: a 1,024-partition topic used
// to fail right after creation with "This server does not host this topic-partition" although
// it had been created (kafkajs waits on one broker and gives up on the first such answer).

const PARTITIONS = 1_024;
const logger = createLogger({ level: 'silent', pretty: false });
const clients: KafkaIo[] = [];
const created: string[] = [];

function client(): KafkaIo {
  const kafka = createKafkaIo(testConfig().kafka, logger);
  clients.push(kafka);
  return kafka;
}

/** Every partition answers an offset request and names a leader, asked at once: no waiting here. */
async function expectServed(kafka: KafkaIo, topic: string): Promise<void> {
  const watermarks = await kafka.admin.watermarks(topic);
  expect(watermarks.map((w) => w.partition)).toEqual(Array.from({ length: PARTITIONS }, (_, i) => i));
  const admin = kafka.client.admin();
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(topics[0].partitions.filter((p) => p.leader < 0 || p.partitionErrorCode !== 0)).toEqual([]);
  } finally {
    await admin.disconnect();
  }
}

afterAll(async () => {
  // 2,048 partitions is a lot for the shared single-broker stack: give them back.
  const admin = clients[0]?.client.admin();
  if (admin && created.length > 0) {
    await admin.connect();
    await admin.deleteTopics({ topics: created }).catch(() => undefined);
    await admin.disconnect();
  }
  await Promise.all(clients.map((c) => c.close()));
});

describe('topic creation', () => {
  let input: string;

  test(`two creators racing for a ${PARTITIONS}-partition topic both return once it is served`, async () => {
    input = uniqueTopic('topics-1024');
    created.push(input);
    const [first, second] = [client(), client()];
    // Each checks as soon as its own call returns: the one that lost the race must have waited too.
    await Promise.all(
      [first, second].map(async (kafka) => {
        await kafka.admin.ensureTopics([{ topic: input, partitions: PARTITIONS }]);
        await expectServed(kafka, input);
      }),
    );
  });

  test(`kto topics create --like a ${PARTITIONS}-partition topic returns once the new topic is served`, async () => {
    const kafka = client();
    const output = `${input}.out`;
    created.push(output);
    await expect(createTopic(kafka, output, { like: input })).resolves.toEqual({ topic: output, partitions: PARTITIONS, created: true });
    await expectServed(kafka, output);
    // A produce right away reaches the last partition.
    await kafka.produce([{ topic: output, partition: PARTITIONS - 1, key: 'k', value: 'v' }]);
    expect((await kafka.admin.watermarks(output))[PARTITIONS - 1].high).toBe(1n);
  });
});
