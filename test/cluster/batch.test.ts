import type { BatchReport } from '../../src/shared/batch';
import { createTestPipeline, expectExactlyOnce, startBatch } from '../support/batch-harness';
import { useCluster } from '../support/cluster';
import { useFaultScenarios } from '../support/fault-scenario';

/**
 * Invariant 1 on three brokers (replication factor 3, min.insync.replicas 2): kill -9 of the
 * broker that leads the output partition, or of the transaction coordinator, while a
 * partition's transaction is open with output and dead letters. The run finishes on the two
 * brokers left, and each input record counts once in what a read_committed consumer of the
 * output and of the error topic sees.
 */
const { env, scenario } = useFaultScenarios('cluster');
const cluster = useCluster(() => env.config);

const VICTIMS = {
  'the leader of output partition 0': (outputTopic: string) => cluster.leaderOf(outputTopic, 0),
  'the transaction coordinator': () => cluster.leaderOf('__transaction_state', 0),
};

test.each(Object.keys(VICTIMS) as (keyof typeof VICTIMS)[])('kill -9 of %s while the output transaction is open: nothing lost or doubled', async (victim) => {
  const { id, runConfig, worker } = scenario(victim);
  const pipeline = await createTestPipeline(env.kafka, 2, 40, (topics) => cluster.createTopics(topics, 2));
  // One row per day and voltage: hundreds of output records per partition, a transaction long enough to kill a broker in.
  const options = { ...pipeline.options, aggregation: { groupBy: 'voltage' } };
  await pipeline.produce(4_000);

  const w = worker('before:produce');
  const handle = await startBatch(env.client, runConfig, options, `cluster-${id}`);
  await w.held();
  const kill = await cluster.killer(await VICTIMS[victim](options.outputTopic));
  const watch = await cluster.watchFirstRecord(options.outputTopic);
  try {
    w.release();
    await watch.seen;
    await kill();
  } finally {
    await watch.stop();
  }

  const report: BatchReport = await handle.result();
  expect(report.recordsIn).toBe(4_000);
  await cluster.restart([options.topic, options.outputTopic, options.errorTopic, '__transaction_state', '__consumer_offsets']);
  await expectExactlyOnce(runConfig, env.kafka, options);
}, 240_000);
