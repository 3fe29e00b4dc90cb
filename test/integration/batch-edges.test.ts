import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { BatchPipelineOptions, BatchReport } from '../../src/shared/batch';
import { partitionWorkflowId } from '../../src/shared/batch';
import { createTestPipeline, expectExactlyOnce, startBatch, voltageRecords } from '../support/batch-harness';
import { readTopic } from '../support/kafka-check';
import { waitFor } from '../support/helpers';
import { runKto } from '../support/run-cli';
import { killTestService } from '../support/test-stack';
import { useTestEnv } from '../support/test-env';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

/**
 * The edges of exactly-once around the group offset: offsets that expire, records retention
 * deletes under a pinned range, a topic deleted and recreated, two pipelines on one group, and
 * a range whose dead letters alone exceed one produce request.
 */
const env = useTestEnv('batch-edges');
let admin: Admin;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  admin = new Kafka({ brokers: env.config.kafka.brokers, clientId: 'kto-test-edges', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill('SIGKILL')));
});

afterAll(async () => {
  await admin?.disconnect();
});

/** A batch run on the file's in-process worker, to its end. */
const run = async (options: BatchPipelineOptions, name: string): Promise<BatchReport> => (await startBatch(env.client, env.config, options, `${name}-${randomUUID()}`)).result();

async function failureOf(options: BatchPipelineOptions, name: string): Promise<string> {
  const failure = await run(options, name).catch((err: unknown) => err);
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  return rootCause(failure as Error).message;
}

function rootCause(err: Error): Error {
  return err.cause instanceof Error ? rootCause(err.cause) : err;
}

/**
 * A task queue of the test's own, served only by the worker processes it starts there (each
 * optionally parked at a hold point, see fault-worker.ts), and batch runs started on it.
 */
function ownQueue() {
  const taskQueue = `edges-${randomUUID()}`;
  const config = { ...env.config, temporal: { ...env.config.temporal, taskQueue } };
  return {
    worker(label: string, hold?: string): WorkerProcess {
      const w = startWorkerProcess({ taskQueue, dir: path.join(process.env.KTO_DEVSTACK_DIR!, 'edges', `${label}-${randomUUID().slice(0, 8)}`), hold });
      workers.push(w);
      return w;
    },
    start: (options: BatchPipelineOptions, name: string) => startBatch(env.client, config, options, `${name}-${randomUUID()}`),
  };
}

describe('exactly once at the edges of the group offset', () => {
  test('a group whose offsets expired resumes from kto\'s state record: nothing doubled, nothing skipped', async () => {
    const pipeline = await createTestPipeline(env.kafka, 2, 20);
    await pipeline.produce(600);
    await run(pipeline.options, 'before-expiry');
    // What offsets.retention.minutes does to a group without members, all at once.
    await admin.deleteGroups([pipeline.options.groupId]);
    expect([...(await env.kafka.admin.committedOffsets(pipeline.options.groupId, pipeline.options.topic)).values()]).toEqual([null, null]);

    await pipeline.produce(300);
    const report = await run(pipeline.options, 'after-expiry');
    expect(report.recordsIn).toBe(300);
    await expectExactlyOnce(env.config, env.kafka, pipeline.options);
  });

  test('a group moved outside kto fails the run naming `kto batch reset`; the reset moves group and record together', async () => {
    const pipeline = await createTestPipeline(env.kafka, 1);
    await pipeline.produce(200);
    await run(pipeline.options, 'before-move');
    await admin.setOffsets({ groupId: pipeline.options.groupId, topic: pipeline.options.topic, partitions: [{ partition: 0, offset: '150' }] });

    expect(await failureOf(pipeline.options, 'after-move')).toMatch(/partition 0: the group's offset is 150 but kto last left it at 200; .*Fix: `kto batch reset .* --to <offset> --partition 0`/);
    expect(await readTopic(env.config.kafka.brokers, pipeline.options.outputTopic)).toHaveLength(5);

    const reset = await runKto(['batch', 'reset', '--topic', pipeline.options.topic, '--group', pipeline.options.groupId, '--to', '200', '--json']);
    expect(reset.stderr).toBe('');
    expect(JSON.parse(reset.stdout)).toEqual([{ partition: 0, before: '150', after: '200' }]);
    await pipeline.produce(100);
    expect((await run(pipeline.options, 'after-reset')).recordsIn).toBe(100);
    await expectExactlyOnce(env.config, env.kafka, pipeline.options);
  });

  test('a topic deleted and recreated is noticed, with fewer records and with more; `kto batch reset --to earliest` goes on from its first record', async () => {
    const pipeline = await createTestPipeline(env.kafka, 1);
    const { topic } = pipeline.options;
    await pipeline.produce(100);
    await run(pipeline.options, 'original');

    const recreate = async (records: number) => {
      await admin.deleteTopics({ topics: [topic] });
      await waitFor(async () => !(await admin.listTopics()).includes(topic), { description: `${topic} to be deleted` });
      await waitFor(() => admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }).then(() => true, () => false), { description: `${topic} to be created again` });
      await env.kafka.produce(voltageRecords(topic, 1, records, 1_000));
    };
    await recreate(50);
    expect(await failureOf(pipeline.options, 'fewer')).toMatch(/offset 100,? (is )?past the partition's end \(50\); the topic was deleted and recreated or truncated\. Fix: `kto batch reset .* --to earliest --partition 0`/);

    await recreate(150);
    expect(await failureOf(pipeline.options, 'more')).toMatch(/no longer holds the record the pipeline last read \(offset 99, .*the topic was deleted and recreated, or truncated.*Fix: `kto batch reset .* --to earliest --partition 0`/);
    const before = await readTopic(env.config.kafka.brokers, pipeline.options.outputTopic);

    const reset = await runKto(['batch', 'reset', '--topic', topic, '--group', pipeline.options.groupId, '--to', 'earliest']);
    expect(reset.stdout).toMatch(/partition 0: (100|no offset) → 0/);
    const report = await run(pipeline.options, 'after-reset');
    expect(report.recordsIn).toBe(150);
    const after = await readTopic(env.config.kafka.brokers, pipeline.options.outputTopic);
    expect(after.slice(before.length).map((r) => [r.headers['kto-offset-from'], r.headers['kto-offset-to']])).toEqual(Array(5).fill(['0', '149']));
  });

  test('retention deleting records of a pinned range before a re-read fails the partition instead of skipping them', async () => {
    const pipeline = await createTestPipeline(env.kafka, 1);
    await pipeline.produce(1_000);
    const queue = ownQueue();
    const doomed = queue.worker('retention-doomed', 'before:aggregate');
    const handle = await queue.start(pipeline.options, 'retention');
    await doomed.held();
    await doomed.kill('SIGKILL');
    // kafkajs finds the partition leader for deleteTopicRecords only once the topic's metadata is loaded.
    await admin.fetchTopicMetadata({ topics: [pipeline.options.topic] });
    await admin.deleteTopicRecords({ topic: pipeline.options.topic, partitions: [{ partition: 0, offset: '10' }] });
    queue.worker('retention-survivor');

    const failure = await handle.result().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(rootCause(failure as Error).message).toMatch(/records 0\.\.9 of the pinned range were deleted \(retention or deleteRecords\) before they were processed\. Fix: raise the topic's retention\.ms/);
    expect(await readTopic(env.config.kafka.brokers, pipeline.options.outputTopic)).toEqual([]);
    expect((await env.kafka.admin.committedOffsets(pipeline.options.groupId, pipeline.options.topic)).get(0) ?? null).toBeNull();
  });

  test('two pipelines on one group, both held before produce and released together, fence each other: the range lands once', async () => {
    const pipeline = await createTestPipeline(env.kafka, 1);
    await pipeline.produce(1_000);
    const queue = ownQueue();
    const w = queue.worker('shared-group', 'before:produce');
    const names = ['shared-a', 'shared-b'].map((n) => `${n}-${randomUUID().slice(0, 8)}`);
    const runs = names.map(async (name): Promise<BatchReport> => (await queue.start({ ...pipeline.options, pipeline: name }, name)).result());
    // Both children parked in produce, each with the same pinned range.
    await waitFor(
      async () => {
        const parked = await Promise.all(
          names.map(async (name) => {
            const described = await env.client.workflow.getHandle(partitionWorkflowId(name, 0)).describe().catch(() => undefined);
            return (described?.raw.pendingActivities ?? []).some((a) => a.activityType?.name === 'produce');
          }),
        );
        return parked.every(Boolean);
      },
      { timeoutMs: 90_000, description: 'both runs to reach produce' },
    );
    w.release();

    const reports = await Promise.all(runs);
    expect(reports.map((r) => r.partitionSummaries[0].status).sort()).toEqual(['already-committed', 'committed']);
    await expectExactlyOnce(env.config, env.kafka, pipeline.options);
  });

  test('6,000 malformed records in one partition land as 6,000 dead letters; maxRecordsPerRun bounds each run', async () => {
    const pipeline = await createTestPipeline(env.kafka, 1);
    const broken = Array.from({ length: 6_000 }, (_, i) => ({ topic: pipeline.options.topic, partition: 0, key: null, value: `{"datetime": "broken ${i}` }));
    await env.kafka.produce(broken);
    const report = await run({ ...pipeline.options, transactionTimeout: '5m' }, 'dead-letters');
    expect(report.malformed).toBe(6_000);
    await expectExactlyOnce(env.config, env.kafka, pipeline.options);

    const bounded = await createTestPipeline(env.kafka, 1);
    await env.kafka.produce(broken.map((r) => ({ ...r, topic: bounded.options.topic })));
    const options = { ...bounded.options, maxRecordsPerRun: 2_500 };
    const sizes: number[] = [];
    for (let i = 0; i < 3; i++) sizes.push((await run(options, `bounded-${i}`)).recordsIn);
    expect(sizes).toEqual([2_500, 2_500, 1_000]);
    await expectExactlyOnce(env.config, env.kafka, options);
  });

  test('a transaction timeout above the broker\'s maximum fails the partition with the fix instead of retrying', async () => {
    const pipeline = await createTestPipeline(env.kafka, 1);
    await pipeline.produce(10);
    expect(await failureOf({ ...pipeline.options, transactionTimeout: '2h' }, 'timeout')).toMatch(/refuses a transaction timeout of 7200000 ms: it is above its transaction\.max\.timeout\.ms\. Fix: lower the pipeline's transactionTimeout/);
  });
});

describe('faults in flight', () => {
  test('a worker frozen inside its transaction, after sending the output and before EndTxn, is fenced: the retry lands once, its commit fails', async () => {
    const pipeline = await createTestPipeline(env.kafka, 1, 20);
    await pipeline.produce(1_000);
    const queue = ownQueue();
    const zombie = queue.worker('endtxn-zombie', 'commit:produce');
    const handle = await queue.start(pipeline.options, 'endtxn');
    await zombie.held();
    await zombie.kill('SIGSTOP');
    queue.worker('endtxn-survivor');
    const report: BatchReport = await handle.result();
    expect(report.partitionSummaries[0]).toMatchObject({ status: 'committed', attempts: 2 });

    await zombie.kill('SIGCONT');
    zombie.release();
    const done = await waitFor(() => zombie.done(), { timeoutMs: 60_000, description: 'the frozen produce to end' });
    expect(done).toMatch(/^failed: .*(fenced|epoch|ProducerFenced|INVALID_PRODUCER_EPOCH|PRODUCER_FENCED)/i);
    await expectExactlyOnce(env.config, env.kafka, pipeline.options);
  }, 240_000);

  test('kill -9 of the broker in the middle of a produce step\'s transaction: the attempt fails, its sent records are aborted, the retry lands the range once', async () => {
    // Every other record malformed: 20,000 dead letters make the transaction span many produce requests.
    const pipeline = await createTestPipeline(env.kafka, 1, 2);
    await pipeline.produce(40_000);
    const queue = ownQueue();
    const w = queue.worker('broker-produce', 'send:produce');
    const handle = await queue.start(pipeline.options, 'broker-produce');
    await w.held();
    const stack = await killTestService(env.config.devstack.ports, 'kafka');
    w.release();
    expect(await waitFor(() => w.done(), { timeoutMs: 120_000, description: 'the produce attempt to fail on the dead broker' })).toMatch(/^failed: /);
    await stack.up();

    const report: BatchReport = await handle.result();
    expect(report.partitionSummaries[0].malformed).toBe(20_000);
    await expectExactlyOnce(env.config, env.kafka, pipeline.options);
  }, 240_000);
});
