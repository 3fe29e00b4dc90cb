import type { KafkaIo } from '../src/kafka';

export interface BaselineResult {
  records: number;
  /** From `connect()` to the last record counted: group join and fetches, like a kto run's wall time. */
  wallMs: number;
  /** From `connect()` to the first batch: the share of `wallMs` spent joining the group. */
  firstBatchMs: number;
  /** With `parse`: the sum of the values' voltage, so the parse cannot be optimized away. */
  voltageSum?: number;
}

/**
 * The raw speed of reading the topic with kafkajs: a fresh group from the beginning,
 * read_committed (kto's isolation level), `eachBatch` only counting. kto cannot be faster than
 * this on the same client library, so it is the yardstick for kto's overhead. With `parse`,
 * each value is also JSON-parsed and its `voltage` summed: the least work kto's aggregation
 * does per record, a second bound for a reader of the results.
 */
export async function consumeBaseline(kafka: KafkaIo, options: { topic: string; groupId: string; expected: number; parse?: boolean }): Promise<BaselineResult> {
  const consumer = kafka.client.consumer({ groupId: options.groupId, readUncommitted: false });
  const started = performance.now();
  let firstBatchMs = 0;
  let records = 0;
  let sum = 0;
  let resolveDone!: () => void;
  let rejectDone!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  consumer.on(consumer.events.CRASH, (event) => rejectDone(event.payload.error));
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      eachBatch: async ({ batch }) => {
        if (records === 0) firstBatchMs = performance.now() - started;
        records += batch.messages.length;
        if (options.parse) {
          for (const m of batch.messages) {
            try {
              const voltage = (JSON.parse(m.value?.toString() ?? 'null') as { voltage?: unknown } | null)?.voltage;
              if (typeof voltage === 'number') sum += voltage;
            } catch {
              // The sample's malformed records count like any other.
            }
          }
        }
        if (records >= options.expected) resolveDone();
      },
    });
    await done;
    return { records, wallMs: performance.now() - started, firstBatchMs, ...(options.parse && { voltageSum: sum }) };
  } finally {
    await consumer.disconnect();
    await kafka.admin.deleteGroup(options.groupId);
  }
}
