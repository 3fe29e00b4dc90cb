import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { BatchReport } from '../../src/shared/batch';
import { bundleWorkflows } from '../../src/worker';
import { createTestPipeline, expectExactlyOnce, startBatch, voltageRecords } from '../support/batch-harness';
import { readTopic } from '../support/kafka-check';
import { waitFor } from '../support/helpers';
import { testWorkflowBundle, useTestEnv } from '../support/test-env';

const env = useTestEnv('batch');

describe('batch pipeline on the real stack', () => {
  test('each input record counts once; output lands in the source partition; later runs take only new records', async () => {
    const pipeline = await createTestPipeline(env.kafka, 3, 50);
    await pipeline.produce(3_000);

    const first: BatchReport = await (await startBatch(env.client, env.config, pipeline.options, `run1-${randomUUID()}`)).result();
    expect(first.partitions).toBe(3);
    expect(first.recordsIn).toBe(3_000);
    expect(first.malformed).toBe(60);
    expect(first.recordsOut).toBe(15); // 5 days × 3 partitions
    expect(first.partitionSummaries.map((s) => s.status)).toEqual(['committed', 'committed', 'committed']);
    await expectExactlyOnce(env.config, env.kafka, pipeline.options);

    const errors = await readTopic(env.config.kafka.brokers, pipeline.options.errorTopic);
    expect(errors).toHaveLength(60);
    expect(errors.every((e) => /^(invalid-json|missing-field): /.test(e.headers['kto-error-reason']))).toBe(true);
    expect(errors.every((e) => e.headers['kto-source-offset'] !== undefined && e.headers['kto-source-topic'] === pipeline.options.topic)).toBe(true);

    const empty: BatchReport = await (await startBatch(env.client, env.config, pipeline.options, `run2-${randomUUID()}`)).result();
    expect(empty.recordsIn).toBe(0);
    expect(empty.partitionSummaries.every((s) => s.status === 'nothing-new')).toBe(true);

    await pipeline.produce(900);
    const third = await (await startBatch(env.client, env.config, pipeline.options, `run3-${randomUUID()}`)).result();
    expect(third.recordsIn).toBe(900);
    await expectExactlyOnce(env.config, env.kafka, pipeline.options);
  });

  test('a first run starts no child for an empty partition; the next run reads that partition from its first record', async () => {
    const pipeline = await createTestPipeline(env.kafka, 3);
    const { topic } = pipeline.options;
    await env.kafka.produce(voltageRecords(topic, 2, 400)); // partitions 0 and 1 only
    const handle = await startBatch(env.client, env.config, pipeline.options, `sparse-${randomUUID()}`);
    const first: BatchReport = await handle.result();
    expect(first.partitionSummaries.map((s) => [s.partition, s.status])).toEqual([
      [0, 'committed'],
      [1, 'committed'],
      [2, 'nothing-new'],
    ]);
    const events = (await handle.fetchHistory()).events ?? [];
    const started = events.flatMap((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? []);
    expect(started.sort()).toEqual([0, 1].map((p) => `kto-batch-${first.pipeline}-p${p}`));

    await env.kafka.produce(voltageRecords(topic, 1, 150).map((r) => ({ ...r, partition: 2 })));
    const second: BatchReport = await (await startBatch(env.client, env.config, pipeline.options, `sparse-2-${randomUUID()}`)).result();
    expect(second.partitionSummaries.filter((s) => s.status === 'committed').map((s) => [s.partition, s.from, s.to])).toEqual([[2, '0', '149']]);
    await expectExactlyOnce(env.config, env.kafka, pipeline.options);
  });

  test('a range larger than one fetch is read to its end exactly once', async () => {
    const pipeline = await createTestPipeline(env.kafka, 1);
    await pipeline.produce(40_000); // ~3 MB: several 1 MiB fetches
    const report: BatchReport = await (await startBatch(env.client, env.config, pipeline.options, `large-${randomUUID()}`)).result();
    expect(report.recordsIn).toBe(40_000);
    await expectExactlyOnce(env.config, env.kafka, pipeline.options);
  });

  test('runs are findable by search attributes, and their histories replay deterministically against the current workflow code', async () => {
    const pipeline = await createTestPipeline(env.kafka, 2);
    await pipeline.produce(200);
    const handle = await startBatch(env.client, env.config, pipeline.options, `replay-${randomUUID()}`);
    const report: BatchReport = await handle.result();
    const children = report.partitionSummaries.map((s) => `kto-batch-${report.pipeline}-p${s.partition}`);
    const found = await waitFor(
      async () => {
        const ids: string[] = [];
        for await (const w of env.client.workflow.list({ query: `KtoPipeline = '${report.pipeline}' AND KtoRecords > 0` })) ids.push(w.workflowId);
        return ids.length === 3 ? ids.sort() : undefined;
      },
      { description: 'the parent and both children in visibility' },
    );
    expect(found).toEqual([handle.workflowId, ...children].sort());
    const workflowBundle = testWorkflowBundle() ?? (await bundleWorkflows());
    for (const workflowId of [handle.workflowId, ...children]) {
      const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
      await expect(Worker.runReplayHistory({ workflowBundle }, history, workflowId)).resolves.toBeUndefined();
    }
  });

  test('an output topic with fewer partitions than the input fails the run with the fix', async () => {
    const pipeline = await createTestPipeline(env.kafka, 1);
    const small = { ...pipeline.options, topic: `${pipeline.options.topic}.wide` };
    await env.kafka.admin.ensureTopics([{ topic: small.topic, partitions: 4 }]);
    const handle = await startBatch(env.client, env.config, small, `narrow-${randomUUID()}`);
    const failure = await handle.result().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(rootCause(failure as Error).message).toMatch(/has 1 partitions but input topic .* has 4.*co-partitioned/);
  });

  test('an existing error topic with fewer partitions than the input fails the run with the fix; no dead letter is dropped, no offset moves', async () => {
    // Every 10th record malformed, in both partitions; the error topic has no partition 1 for those of partition 1.
    const pipeline = await createTestPipeline(env.kafka, 2, 10);
    await env.kafka.admin.ensureTopics([{ topic: pipeline.options.errorTopic, partitions: 1 }]);
    await pipeline.produce(200);
    const handle = await startBatch(env.client, env.config, pipeline.options, `narrow-errors-${randomUUID()}`);
    const failure = await handle.result().catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(rootCause(failure as Error).message).toMatch(/error topic ".*\.errors" has 1 partitions but input topic .* has 2.*Fix: add partitions to it/);
    expect([...(await env.kafka.admin.committedOffsets(pipeline.options.groupId, pipeline.options.topic)).values()].filter((o) => o !== null)).toEqual([]);
    expect(await readTopic(env.config.kafka.brokers, pipeline.options.outputTopic)).toEqual([]);
  });
});

function rootCause(err: Error): Error {
  return err.cause instanceof Error ? rootCause(err.cause) : err;
}
