import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import type { StoredMessage } from '../../src/devstack/mailbox';
import { batchWorkflowId, type BatchPipelineOptions } from '../../src/shared/batch';
import { createTestPipeline, startBatch } from '../support/batch-harness';
import { sinkFail, sinkMessages, sinkRaw } from '../support/dispatcher-harness';
import { waitFor } from '../support/helpers';
import { useTestEnv } from '../support/test-env';

/**
 * Failure alerts on the real stack: a pipeline whose runs keep failing on two of its three
 * partitions sends one email per run to its `onFailure.email`, counting the failed runs in a
 * row; a run that succeeds sends none; an alert the SMTP server refuses leaves the run failing
 * with its own error.
 */
const env = useTestEnv('alerts');

/** The text of a stored message: nodemailer sends long lines quoted-printable. */
async function bodyOf(message: StoredMessage): Promise<string> {
  const raw = await sinkRaw(message.id);
  return raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

test('a failing pipeline sends one alert per run, naming its partitions and counting the runs in a row', async () => {
  const id = randomUUID().slice(0, 8);
  const recipient = `oncall-${id}@example.com`;
  const pipeline = await createTestPipeline(env.kafka, 3);
  const options: BatchPipelineOptions = { ...pipeline.options, pipeline: `alerts-${id}`, onFailure: { email: [recipient] } };
  const workflowId = batchWorkflowId(options.pipeline!);
  const alerts = async (): Promise<StoredMessage[]> => (await sinkMessages()).filter((m) => m.to.includes(recipient));
  const run = async () => (await startBatch(env.client, env.config, options, workflowId)).result();
  const failedRun = async (): Promise<{ failure: WorkflowFailedError; runId: string }> => {
    const handle = await startBatch(env.client, env.config, options, workflowId);
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    return { failure: failure as WorkflowFailedError, runId: handle.firstExecutionRunId };
  };
  // The count of failed runs reads Temporal's visibility, which shows a closed run a moment later.
  const closedRunsVisible = (n: number) =>
    waitFor(async () => {
      let closed = 0;
      for await (const _ of env.client.workflow.list({ query: `WorkflowId = '${workflowId}' AND ExecutionStatus != 'Running'` })) closed++;
      return closed >= n || undefined;
    }, { description: `${n} closed runs of ${workflowId} in visibility` });

  await pipeline.produce(30);
  const report = await run();
  expect(report.recordsIn).toBe(30);
  expect(await alerts()).toEqual([]);
  await closedRunsVisible(1);

  // Records of partitions 1 and 2 deleted past the group's offset: their children fail with OffsetsOutOfRange.
  await pipeline.produce(60);
  const admin = new Kafka({ brokers: env.config.kafka.brokers, clientId: 'kto-test-alerts', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    // kafkajs finds the partition leader for deleteTopicRecords only once the topic's metadata is loaded.
    await admin.fetchTopicMetadata({ topics: [options.topic] });
    await admin.deleteTopicRecords({ topic: options.topic, partitions: [1, 2].map((partition) => ({ partition, offset: '15' })) });
  } finally {
    await admin.disconnect();
  }

  const first = await failedRun();
  expect(first.failure.cause).toMatchObject({ type: 'PartitionsFailed' });
  const [alert1] = await alerts();
  expect(await alerts()).toHaveLength(1);
  expect(alert1.subject).toBe(`kto: batch pipeline ${options.pipeline} failed (1st failed run in a row)`);
  const body1 = await bodyOf(alert1);
  expect(body1).toMatch(/Error: 2 of 3 partitions failed: p[12]: .*records 10\.\.14 were deleted/);
  expect(body1).toMatch(/Failed partitions:\r?\n {2}p1: partition 1 of "[^"]+": records 10\.\.14 were deleted[^\n]*\r?\n {2}p2: partition 2 /);
  expect(body1).not.toMatch(/^ {2}p0:/m);
  expect(body1).toContain(`/namespaces/default/workflows/${workflowId}/${first.runId}`);
  await closedRunsVisible(2);

  await failedRun();
  const second = await alerts();
  expect(second).toHaveLength(2);
  expect(second.map((m) => m.subject)).toContain(`kto: batch pipeline ${options.pipeline} failed (2nd failed run in a row)`);
  await closedRunsVisible(3);

  // The SMTP server refuses the alert for good (550): the run still fails with its own error.
  await sinkFail(1, 550);
  const refused = await failedRun();
  expect(refused.failure.cause).toMatchObject({ type: 'PartitionsFailed', message: expect.stringContaining('2 of 3 partitions failed') });
  expect(await alerts()).toHaveLength(2);
}, 60_000);
