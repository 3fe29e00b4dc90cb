import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Activities } from '../../activities';
import { builtInCommands, createCommandRegistry, isRejection, type CommandEnvelope, type CommandRegistry } from '../../src/commands/registry';
import { COMPLETE_BATCH_COMMAND, completeBatchCommand } from '../../src/complete-batch';
import { batchOptionsOf, batchPipelineSchema } from '../../src/project/pipelines-file';
import { batchWorkflowId, partitionWorkflowId } from '../../src/shared/batch';
import type { ProcessBatchInput, ProcessBatchResult } from '../../src/shared/complete-batch';
import type { RunAlertInput } from '../../src/shared/run-alert';
import { desiredSchedule } from '../../src/temporal/schedules';
import { bundleWorkflows } from '../../src/worker';
import { createTimeSkippingEnv } from '../support/time-skipping';

/**
 * kto's real workflow code against Temporal's time-skipping test server, with the activities
 * faked at their boundary: the timers that no real-time test can wait for (minutes, an hour)
 * fire as they would in production, and the test reads when they fired from the server's clock.
 */
let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  // One after the other: the server's JVM must start while webpack does not hold both cores.
  env = await createTimeSkippingEnv();
  bundle = await bundleWorkflows();
});

afterAll(async () => {
  await env?.teardown();
});

/** Runs `fn` with a worker of kto's workflows and `activities` on a fresh task queue. */
async function withWorker<T>(activities: Partial<Activities>, fn: (client: Client, taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `timers-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities });
  return worker.runUntil(fn(env.client, taskQueue));
}

function resolve(registry: CommandRegistry, envelope: CommandEnvelope) {
  const start = registry.resolveCommand(envelope, { topic: 'commands', partition: 0, offset: BigInt(Math.floor(Math.random() * 1e9)) });
  if (isRejection(start)) throw new Error(start.detail);
  return start;
}

/** The time on the test server's clock, which skips over timers. */
const now = () => env.currentTimeMs();

const MINUTE = 60_000;

describe('complete batch deadline', () => {
  test('a batch that stays incomplete is polled every 2 s and rejected as incomplete-batch at the default deadline of 10 minutes', async () => {
    const passes: { final: boolean; at: number }[] = [];
    const processCompleteBatch = async (input: ProcessBatchInput): Promise<ProcessBatchResult> => {
      passes.push({ final: input.final, at: await now() });
      const counts = { kept: 1, duplicates: 0, outputRecords: 0, durationMs: 1 };
      return input.final ? { status: 'rejected', reason: 'incomplete-batch', errorRecords: 1, ...counts } : { status: 'incomplete', errorRecords: 0, ...counts };
    };
    const event = { eventId: 'never-complete', capacity: 3, sourceDescriptor: { topic: 'data', partition: 0, offset: 0 } };
    const registry = createCommandRegistry({ taskQueue: 'unused', commands: [completeBatchCommand({ outputTopic: 'out', errorTopic: 'err' })] });
    const start = resolve(registry, { command: COMPLETE_BATCH_COMMAND, params: event });

    const startedAt = await now();
    const summary = await withWorker({ processCompleteBatch }, (client, taskQueue) =>
      client.workflow.execute(start.workflowType, { workflowId: start.workflowId, taskQueue, args: start.args }),
    );

    expect(summary).toMatchObject({ status: 'rejected', reason: 'incomplete-batch', passes: passes.length });
    expect(passes.filter((p) => p.final)).toEqual([passes[passes.length - 1]]);
    const waited = passes[passes.length - 1].at - startedAt;
    expect(waited).toBeGreaterThanOrEqual(10 * MINUTE);
    expect(waited).toBeLessThan(10 * MINUTE + 5_000);
    const gaps = passes.slice(1, -1).map((p, i) => p.at - passes[i].at); // the last waits only until the deadline
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(2_000);
    expect(passes.length).toBeGreaterThan(250);
  });
});

describe('email alert retry', () => {
  const registry = createCommandRegistry({ taskQueue: 'unused', commands: builtInCommands({ operatorEmail: 'operator@example.com' }) });
  const alert = () => resolve(registry, { command: 'app.send_email_alert', params: { email: 'ops@example.com', subject: 'disk full' } });
  const transient = () => ApplicationFailure.create({ message: '451 try again later', type: 'SmtpTransientError' });

  test('a transient SMTP failure is retried once, 5 minutes later, and the alert goes out', async () => {
    const attempts: number[] = [];
    const sendEmail = async (mail: { to: string }) => {
      attempts.push(await now());
      if (attempts.length === 1) throw transient();
      return { messageId: '<m1@kto>', accepted: [mail.to] };
    };
    const start = alert();
    const result = await withWorker({ sendEmail } as Partial<Activities>, (client, taskQueue) =>
      client.workflow.execute(start.workflowType, { workflowId: start.workflowId, taskQueue, args: start.args }),
    );
    expect(result).toEqual({ messageId: '<m1@kto>', accepted: ['ops@example.com'] });
    expect(attempts).toHaveLength(2);
    expect(attempts[1] - attempts[0]).toBeGreaterThanOrEqual(5 * MINUTE);
    expect(attempts[1] - attempts[0]).toBeLessThan(6 * MINUTE);
  });

  test('when the retry 5 minutes later fails too, the operator gets the failure alert and the workflow fails', async () => {
    const sent: { to: string; subject: string; at: number }[] = [];
    const sendEmail = async (mail: { to: string; subject: string }) => {
      sent.push({ to: mail.to, subject: mail.subject, at: await now() });
      if (mail.to === 'ops@example.com') throw transient();
      return { messageId: '<op@kto>', accepted: [mail.to] };
    };
    const start = alert();
    const failure = await withWorker({ sendEmail } as Partial<Activities>, (client, taskQueue) =>
      client.workflow.execute(start.workflowType, { workflowId: start.workflowId, taskQueue, args: start.args }).catch((err: unknown) => err),
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause).toMatchObject({ type: 'EmailAlertFailed', message: expect.stringContaining('operator operator@example.com notified') });
    expect(sent.map((m) => m.to)).toEqual(['ops@example.com', 'ops@example.com', 'operator@example.com']);
    expect(sent[2].subject).toBe('kto: alert email to ops@example.com failed');
    expect(sent[1].at - sent[0].at).toBeGreaterThanOrEqual(5 * MINUTE);
  });
});

describe('schedule run timeout', () => {
  test("a scheduled batch run stuck waiting for its downstream's run stops 2 minutes before the schedule's default timeout of 60 minutes, alerts once and fails as RunTimedOut", async () => {
    const pipeline = batchPipelineSchema.parse({ name: 'nightly', topic: 'readings', outputTopic: 'daily', groupId: 'nightly', schedule: {}, onFailure: { email: ['ops@example.com'] } });
    const downstream = { ...batchOptionsOf(pipeline), pipeline: 'nightly-report', groupId: 'nightly-report' };
    const range = { from: '0', to: '9', firstRun: true };
    const done = { durationMs: 1 };
    const upstreamsWaiting = new Set<string>();
    const alerts: (RunAlertInput & { at: number })[] = [];
    const activities = {
      listPartitions: async () => ({ partitions: [0], pending: [0] }),
      // The worker-local steps run on the queue of the worker that consumed: this one.
      consume: async () => ({ ...range, records: 10, file: 'staged', workerQueue: Context.current().info.taskQueue, ...done }),
      commit: async () => done,
      aggregate: async () => ({ groups: 1, accepted: 10, malformed: 0, outputFile: 'out', errorsFile: 'errors', ...done }),
      produce: async () => ({ status: 'committed', outputRecords: 1, errorRecords: 0, ...done }),
      // nightly-report runs after every pipeline, itself included (a cycle the loader refuses): its
      // own run waits for itself and never ends, without holding an activity, so the clock skips.
      downstreamPipelines: async (upstream: string) => {
        upstreamsWaiting.add(upstream);
        return [downstream];
      },
      sendRunAlert: async (alert: RunAlertInput) => {
        alerts.push({ ...alert, at: await now() });
        return { sent: true, recipients: alert.recipients ?? [], failedInARow: 1 };
      },
    } as Partial<Activities>;

    const run = await withWorker(activities, async (client, taskQueue) => {
      const { action } = desiredSchedule(pipeline, taskQueue);
      expect(action.workflowRunTimeout).toBe('60m');
      await client.workflow.start('batch', { workflowId: batchWorkflowId('nightly-report'), taskQueue, args: [downstream] });
      // What the schedule starts; Temporal appends the scheduled time to the id.
      const handle = await client.workflow.start(action.workflowType, { ...action, workflowId: `${action.workflowId}-2026-01-02T00:00:00Z` });
      const error = await handle.result().catch((err: unknown) => err);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause).toMatchObject({ type: 'RunTimedOut', message: expect.stringContaining('within its 3600 s timeout') });
      return handle.describe();
    });
    expect(run.status.name).toBe('FAILED');
    const ran = run.closeTime!.getTime() - run.startTime.getTime();
    expect(ran).toBeGreaterThanOrEqual(58 * MINUTE);
    expect(ran).toBeLessThan(58 * MINUTE + 1_000);
    expect(alerts).toEqual([
      expect.objectContaining({ pipeline: 'nightly', outcome: 'timed-out', recipients: ['ops@example.com'], failedPartitions: [], unfinishedPartitions: [], error: expect.stringContaining('did not finish within its 3600 s timeout') }),
    ]);
    expect(alerts[0].at - run.startTime.getTime()).toBeGreaterThanOrEqual(58 * MINUTE);
    expect([...upstreamsWaiting].sort()).toEqual(['nightly', 'nightly-report']);
    // Its partition had committed before: what the run's deadline cut short was only the wait.
    expect((await env.client.workflow.getHandle(partitionWorkflowId('nightly', 0)).describe()).status.name).toBe('COMPLETED');
    await env.client.workflow.getHandle(batchWorkflowId('nightly-report')).terminate('test over');
  });

  test('a run with a failed partition stuck past its deadline alerts once, naming the partition, a quarter of its 6-minute run timeout early', async () => {
    const pipeline = batchPipelineSchema.parse({ name: 'stuck', topic: 'in', outputTopic: 'out', groupId: 'stuck' });
    const downstream = { ...batchOptionsOf(pipeline), pipeline: 'stuck-report', groupId: 'stuck-report' };
    const range = { from: '0', to: '9', firstRun: true };
    const done = { durationMs: 1 };
    const alerts: RunAlertInput[] = [];
    const activities = {
      listPartitions: async () => ({ partitions: [0, 1], pending: [0, 1] }),
      // Partition 0 commits; partition 1's range is gone. The run then waits on its downstream's run, which never ends.
      consume: async (input: { partition: number }) => {
        if (input.partition === 1) throw ApplicationFailure.create({ type: 'OffsetsOutOfRange', message: 'records 0..9 were deleted', nonRetryable: true });
        return { ...range, records: 10, file: 'staged', workerQueue: Context.current().info.taskQueue, ...done };
      },
      commit: async () => done,
      aggregate: async () => ({ groups: 1, accepted: 10, malformed: 0, outputFile: 'out', errorsFile: 'errors', ...done }),
      produce: async () => ({ status: 'committed', outputRecords: 1, errorRecords: 0, ...done }),
      downstreamPipelines: async () => [downstream],
      sendRunAlert: async (alert: RunAlertInput) => {
        alerts.push(alert);
        return { sent: false, recipients: [], failedInARow: 1 };
      },
    } as unknown as Partial<Activities>;
    const run = await withWorker(activities, async (client, taskQueue) => {
      await client.workflow.start('batch', { workflowId: batchWorkflowId('stuck-report'), taskQueue, args: [downstream] });
      const handle = await client.workflow.start('batch', { workflowId: batchWorkflowId('stuck'), taskQueue, args: [batchOptionsOf(pipeline)], workflowRunTimeout: '6m' });
      const error = await handle.result().catch((err: unknown) => err);
      expect((error as WorkflowFailedError).cause).toMatchObject({ type: 'RunTimedOut' });
      return handle.describe();
    });
    const ran = run.closeTime!.getTime() - run.startTime.getTime();
    // Under 8 minutes the margin is a quarter of the timeout: 1.5 minutes before 6.
    expect(ran).toBeGreaterThanOrEqual(4.5 * MINUTE);
    expect(ran).toBeLessThan(4.5 * MINUTE + 1_000);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ pipeline: 'stuck', outcome: 'timed-out', failedPartitions: [{ partition: 1, message: 'records 0..9 were deleted' }] });
    // Without onFailure the worker's KTO_ALERT_EMAIL applies.
    expect(alerts[0].recipients).toBeUndefined();
    await env.client.workflow.getHandle(batchWorkflowId('stuck-report')).terminate('test over');
    // Both runs retry their downstream start every 10 s of skipped time, about 50 round trips to the
    // test server before the deadline: a second alone, minutes on a machine busy with the integration suite.
  }, 360_000);
});
