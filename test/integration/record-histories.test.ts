import { randomUUID } from 'node:crypto';
import { createCommandRegistry, isRejection } from '../../src/commands/registry';
import { batchTopics, COMPLETE_BATCH_COMMAND, completeBatchCommand, type CompleteBatchOptions } from '../../src/complete-batch';
import { startRandomUserSource } from '../../src/devstack/random-user-source';
import { partitionGroupWorkflowId, partitionWorkflowId, type BatchReport } from '../../src/shared/batch';
import { createTestPipeline, startBatch } from '../support/batch-harness';
import { writeHistory } from '../support/histories';
import { FAST_EMAIL_RETRY, sinkFail, sinkReset } from '../support/dispatcher-harness';
import { uniqueTopic, waitFor } from '../support/helpers';
import { useTestEnv } from '../support/test-env';

/**
 * Records the histories that test/unit/workflow-replay.test.ts replays: one real run of each of
 * kto's workflows (and of their other paths worth keeping) on the real stack, written to
 * test/fixtures/histories/<workflow type>[.<case>].json. Run it after a change to workflow code
 * that is meant to be incompatible (behind `patched()` the old histories must still replay, so
 * keep them and add new ones):
 *
 *   KTO_RECORD_HISTORIES=1 npx jest --selectProjects integration --testPathPatterns record-histories
 */
const env = useTestEnv('record-histories');
const record = process.env.KTO_RECORD_HISTORIES === '1' ? test : test.skip;

async function save(workflowId: string, name: string): Promise<void> {
  writeHistory(name, await env.client.workflow.getHandle(workflowId).fetchHistory());
}

const start = (workflowType: string, args: unknown[]) =>
  env.client.workflow.start(workflowType, { workflowId: `history-${workflowType}-${randomUUID()}`, taskQueue: env.config.temporal.taskQueue, args });

describe('record workflow histories for the replay tests', () => {
  record('batch and partition: two partitions with records, dead letters among them', async () => {
    const pipeline = await createTestPipeline(env.kafka, 2, 10);
    await pipeline.produce(100);
    const options = { ...pipeline.options, pipeline: `history-${randomUUID().slice(0, 8)}` };
    const handle = await startBatch(env.client, env.config, options, `history-batch-${randomUUID()}`);
    const report: BatchReport = await handle.result();
    expect(report.partitionSummaries.map((s) => s.status)).toEqual(['committed', 'committed']);
    await save(handle.workflowId, 'batch');
    await save(partitionWorkflowId(options.pipeline, 0), 'partition');
  });

  record('batch and backfill over partition groups, and partitionGroup: four small partitions, two children at once', async () => {
    const pipeline = await createTestPipeline(env.kafka, 4, 10);
    await pipeline.produce(100);
    const options = { ...pipeline.options, pipeline: `history-${randomUUID().slice(0, 8)}`, maxConcurrentPartitions: 2 };
    const handle = await startBatch(env.client, env.config, options, `history-batch-groups-${randomUUID()}`);
    const report: BatchReport = await handle.result();
    expect(report.partitionSummaries.map((s) => s.status)).toEqual(['committed', 'committed', 'committed', 'committed']);
    await save(handle.workflowId, 'batch.groups');
    await save(partitionGroupWorkflowId(options.pipeline, [0, 1]), 'partitionGroup');

    const backfill = await start('backfill', [{ pipeline: options, id: 'history', from: '2', to: '8' }]);
    expect(((await backfill.result()) as BatchReport).partitionSummaries.map((s) => s.records)).toEqual([6, 6, 6, 6]);
    await save(backfill.workflowId, 'backfill.groups');
  });

  record('backfill: an offset range of two partitions under its own group', async () => {
    const pipeline = await createTestPipeline(env.kafka, 2);
    await pipeline.produce(20);
    const options = { ...pipeline.options, pipeline: `history-${randomUUID().slice(0, 8)}` };
    const handle = await start('backfill', [{ pipeline: options, id: 'history', from: '2', to: '8' }]);
    const report: BatchReport = await handle.result();
    expect(report.partitionSummaries.map((s) => [s.status, s.records])).toEqual([
      ['committed', 6],
      ['committed', 6],
    ]);
    await save(handle.workflowId, 'backfill');
  });

  record('sendEmailAlert: sent on the second attempt, and every attempt refused with the operator alerted', async () => {
    await sinkReset();
    await sinkFail(1, 451);
    const sent = await start('sendEmailAlert', [{ to: 'ops@example.com', subject: 'history', retry: FAST_EMAIL_RETRY }]);
    await sent.result();
    await save(sent.workflowId, 'sendEmailAlert');

    await sinkFail(1, 550);
    const failed = await start('sendEmailAlert', [{ to: 'ops@example.com', subject: 'history refused', failureAlertTo: 'operator@example.com', retry: FAST_EMAIL_RETRY }]);
    await expect(failed.result()).rejects.toThrow();
    await save(failed.workflowId, 'sendEmailAlert.operator-alert');
  });

  record('sendEmailDigest: a batch of three alerts for two recipients', async () => {
    const alert = (to: string, subject: string) => ({ args: [{ to, subject, body: `${subject} body` }], partition: 0, offset: subject.slice(-1) });
    const batch = { command: 'app.send_email_digest', key: null, items: [alert('a@example.com', 'digest 1'), alert('b@example.com', 'digest 2'), alert('a@example.com', 'digest 3')] };
    const handle = await start('sendEmailDigest', [batch]);
    expect((await handle.result()).sent.map((s: { to: string; alerts: number }) => [s.to, s.alerts])).toEqual([
      ['a@example.com', 2],
      ['b@example.com', 1],
    ]);
    await save(handle.workflowId, 'sendEmailDigest');
  });

  record('ingest: a 2 s window of the local random-user source', async () => {
    const source = await startRandomUserSource({ port: 0, seed: 'history' });
    try {
      const run = await start('ingest', [{ pipeline: 'history-users', url: `${source.url}?results=2`, topic: uniqueTopic('history-users'), intervalMs: 500, windowMs: 2_000 }]);
      await run.result();
      await save(run.workflowId, 'ingest');
    } finally {
      await source.close();
    }
  });

  record('completeBatch: complete on the second read, and rejected at its deadline', async () => {
    const topics = batchTopics('test.kto', uniqueTopic('history-cb'));
    await env.kafka.admin.ensureTopics([topics.data, topics.event, topics.output, topics.error].map((topic) => ({ topic, partitions: 1 })));
    const data = (eventId: string, id: number) => ({
      topic: topics.data,
      partition: 0,
      key: eventId,
      value: JSON.stringify({ eventId, id, offset: id, payload: { datetime: '01/12/2020 10:00:00', voltage: 230 + id } }),
    });
    const run = (eventId: string, offset: number, options: Partial<CompleteBatchOptions>) => {
      const registry = createCommandRegistry({
        taskQueue: env.config.temporal.taskQueue,
        commands: [completeBatchCommand({ outputTopic: topics.output, errorTopic: topics.error, pollIntervalMs: 300, workerLossTimeoutMs: 5_000, ...options })],
      });
      const event = { eventId, capacity: 3, sourceDescriptor: { topic: topics.data, partition: 0, offset } };
      const resolved = registry.resolveCommand({ command: COMPLETE_BATCH_COMMAND, params: event }, { topic: topics.event, partition: 0, offset: BigInt(offset) });
      if (isRejection(resolved)) throw new Error(resolved.detail);
      return env.client.workflow.start(resolved.workflowType, { workflowId: resolved.workflowId, taskQueue: resolved.taskQueue, args: resolved.args });
    };

    await env.kafka.produce([data('late', 0), data('late', 1)]);
    const complete = await run('late', 0, {});
    await waitFor(async () => ((await complete.fetchHistory()).events ?? []).some((e) => e.activityTaskCompletedEventAttributes), {
      timeoutMs: 30_000,
      description: 'the first read of the incomplete batch',
    });
    await env.kafka.produce([data('late', 2)]);
    expect(await complete.result()).toMatchObject({ status: 'processed', kept: 3 });
    await save(complete.workflowId, 'completeBatch');

    await env.kafka.produce([data('short', 3)]);
    const rejected = await run('short', 3, { deadlineMs: 1_000 });
    expect(await rejected.result()).toMatchObject({ status: 'rejected', reason: 'incomplete-batch' });
    await save(rejected.workflowId, 'completeBatch.deadline');
  });
});
