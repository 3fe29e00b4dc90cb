import type { Client } from '@temporalio/client';
import type { KtoConfig } from '../../src/runtime/config';
import type { KafkaIo } from '../../src/kafka';
import type { BatchPipelineOptions } from '../../src/shared/batch';
import { diffTotals, expectedDailyPeaks, malformedOffsets, expectedDailyTotals, outputDailyPeaks, outputDailyTotals, outputRanges, readTopic } from './kafka-check';
import { uniqueTopic } from './helpers';

/** Seed-style voltage records spread over a few days; every `malformedEvery`-th one is broken. */
export function voltageRecords(topic: string, partitions: number, count: number, start = 0, malformedEvery = 0) {
  return Array.from({ length: count }, (_, j) => {
    const i = start + j;
    const day = String(1 + (i % 5)).padStart(2, '0');
    const value =
      malformedEvery > 0 && i % malformedEvery === malformedEvery - 1
        ? i % 2 === 0
          ? '{"datetime": "broken'
          : JSON.stringify({ datetime: `${day}/12/2006 10:00:00` })
        : JSON.stringify({ datetime: `${day}/12/2006 ${String(i % 24).padStart(2, '0')}:52:00`, voltage: 230 + ((i * 7) % 200) / 10 });
    return { topic, partition: i % partitions, key: null, value };
  });
}

export interface TestPipeline {
  options: BatchPipelineOptions & { errorTopic: string };
  produce(count: number): Promise<void>;
}

/**
 * Fresh input, output and error topics plus a group, with `workerLossTimeout` short enough for
 * tests. `createTopics` replaces how the topics are made (the cluster tests place their leaders).
 */
export async function createTestPipeline(kafka: KafkaIo, partitions: number, malformedEvery = 0, createTopics?: (topics: string[]) => Promise<void>): Promise<TestPipeline> {
  const topic = uniqueTopic('batch-in');
  const options = {
    topic,
    outputTopic: `${topic}.out`,
    errorTopic: `${topic}.errors`,
    groupId: `${topic}.group`,
    workerLossTimeout: '3s' as const,
  };
  if (createTopics) await createTopics([topic, options.outputTopic, options.errorTopic]);
  else await kafka.admin.ensureTopics([
    { topic, partitions },
    { topic: options.outputTopic, partitions },
  ]);
  let produced = 0;
  return {
    options,
    async produce(count: number) {
      await kafka.produce(voltageRecords(topic, partitions, count, produced, malformedEvery));
      produced += count;
    },
  };
}

export function startBatch(client: Client, config: KtoConfig, options: BatchPipelineOptions, workflowId: string) {
  return client.workflow.start('batch', { taskQueue: config.temporal.taskQueue, workflowId, args: [options] });
}

/**
 * The exactly-once check: what a read_committed consumer sees in the output equals an
 * independent computation over the whole input, each output record sits in its source
 * partition, the input ranges tile each partition with no gap and no overlap, and the
 * group offsets stand at the end of the input.
 */
export async function expectExactlyOnce(config: KtoConfig, kafka: KafkaIo, options: BatchPipelineOptions): Promise<void> {
  const brokers = config.kafka.brokers;
  const [input, output] = await Promise.all([readTopic(brokers, options.topic), readTopic(brokers, options.outputTopic)]);
  // The built-in daily mean, or the project processor of the fault tests (test/fixtures/user-project).
  const [expected, actual] = options.processor === 'voltage-peaks' ? [expectedDailyPeaks(input), outputDailyPeaks(output)] : [expectedDailyTotals(input), outputDailyTotals(output)];
  expect(diffTotals(expected, actual)).toEqual([]);
  // Each rejected record is one dead letter.
  const errors = await readTopic(brokers, options.errorTopic ?? `${options.topic}.errors`);
  expect(errors.map((e) => `${e.headers['kto-source-partition']}/${e.headers['kto-source-offset']}`).sort()).toEqual(malformedOffsets(input));
  for (const r of output) expect(String(r.partition)).toBe(r.headers['kto-source-partition']);
  const ranges = outputRanges(output, errors);
  const committed = await kafka.admin.committedOffsets(options.groupId, options.topic);
  for (const [partition, list] of ranges) expect(committed.get(partition)).toBe(list[list.length - 1].to + 1n);
  const lastOffsets = new Map<number, bigint>();
  for (const r of input) lastOffsets.set(r.partition, r.offset);
  for (const [partition, last] of lastOffsets) expect(committed.get(partition)).toBe(last + 1n);
}
