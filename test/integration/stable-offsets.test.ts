import { createKafkaIo, type KafkaIo } from '../../src/kafka';
import { beginTransaction } from '../../src/kafka/transactional';
import { createLogger } from '../../src/runtime/logger';
import { testConfig, uniqueTopic } from '../support/helpers';

// Invariant 2: a committed-offset read does not answer while a transaction holds a commit of
// that offset pending. A plain OffsetFetch (kafkajs' own) answers at once with the offset from
// before the transaction, which after a coordinator move can also follow the transaction's
// commit; a range commit reading it would write its output a second time.

let kafka: KafkaIo;

beforeAll(() => {
  kafka = createKafkaIo(testConfig().kafka, createLogger({ level: 'silent', pretty: false }));
});

afterAll(async () => {
  await kafka.close();
});

test('a commit pending in an open transaction is read only once the transaction commits', async () => {
  const topic = uniqueTopic('stable-offsets');
  await kafka.admin.ensureTopics([{ topic, partitions: 2 }]);
  const groupId = `${topic}-group`;
  expect(await kafka.admin.committedOffsets(groupId, topic)).toEqual(new Map([[0, null], [1, null]]));

  const { producer, txn } = await beginTransaction(kafka.client, `${topic}-tx`);
  try {
    await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 1, offset: '7' }] }] });
    let answer: Map<number, bigint | null> | undefined;
    const read = kafka.admin.committedOffsets(groupId, topic).then((offsets) => (answer = offsets));
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(answer).toBeUndefined();
    await txn.commit();
    await read;
    expect(answer).toEqual(new Map([[0, null], [1, 7n]]));
  } finally {
    await producer.disconnect();
  }
});
