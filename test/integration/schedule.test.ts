import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { produceVoltageSample } from '../../src/demo/voltage';
import { parsePipelines, type BatchPipelineConfig } from '../../src/project/pipelines-file';
import { createScheduleManager, type ScheduleManager } from '../../src/temporal/schedules';
import type { BatchReport } from '../../src/shared/batch';
import { uniqueTopic, waitFor } from '../support/helpers';
import { useTestEnv } from '../support/test-env';
import { runKto } from '../support/run-cli';

let schedules: ScheduleManager;
let topic: string;
const name = `sched-${randomUUID().slice(0, 8)}`;
const id = `kto-batch-${name}`;

function pipeline(schedule: object): BatchPipelineConfig {
  return parsePipelines({ batch: [{ name, topic, outputTopic: `${topic}.out`, groupId: `${topic}.group`, schedule }] }).batch[0];
}
const outcomeOf = async (p: BatchPipelineConfig) => (await schedules.apply([p])).find((r) => r.pipeline === name)?.outcome;

const env = useTestEnv('schedule');

beforeAll(async () => {
  schedules = createScheduleManager({ client: env.client, taskQueue: env.config.temporal.taskQueue });
  topic = uniqueTopic('sched-in');
  await env.kafka.admin.ensureTopics([
    { topic, partitions: 2 },
    { topic: `${topic}.out`, partitions: 2 },
  ]);
  await produceVoltageSample(env.kafka, { topic, records: 600, partitions: 2, malformed: 2 });
});

afterAll(async () => {
  await schedules?.delete(name).catch(() => undefined);
});

describe('kto schedules on the real Temporal server', () => {
  test('apply creates the schedule with the Airflow DAG policies', async () => {
    expect(await outcomeOf(pipeline({}))).toBe('created');
    const d = (await schedules.describe(name))!;
    expect(d.scheduleId).toBe(id);
    expect(d.policies.overlap).toBe('SKIP');
    expect(d.policies.catchupWindow).toBe(10_000); // Temporal's minimum: the closest it has to catchup=False
    expect(d.state.paused).toBe(false);
    expect(d.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'batch',
      workflowId: id,
      taskQueue: env.config.temporal.taskQueue,
      workflowRunTimeout: 60 * 60 * 1000,
      args: [{ pipeline: name, topic, outputTopic: `${topic}.out`, groupId: `${topic}.group` }],
    });
    // @daily: midnight UTC every day.
    const next = d.info.nextActionTimes.slice(0, 2);
    expect(next[0].toISOString()).toMatch(/T00:00:00\.000Z$/);
    expect(next[1].getTime() - next[0].getTime()).toBe(24 * 3600 * 1000);
  });

  test('a second apply of the same file changes nothing; a changed file updates in place', async () => {
    expect(await outcomeOf(pipeline({}))).toBe('unchanged');
    expect(await outcomeOf(pipeline({ cron: '@hourly', enabled: false }))).toBe('updated');
    const d = (await schedules.describe(name))!;
    expect(d.state.paused).toBe(true);
    const next = d.info.nextActionTimes.slice(0, 2);
    expect(next[1].getTime() - next[0].getTime()).toBe(3600 * 1000);
    const ids = (await schedules.list()).map((r) => r.scheduleId).filter((s) => s === id);
    expect(ids).toEqual([id]);
  });

  test('pause and unpause; a hand-made pause survives an unchanged apply', async () => {
    expect(await outcomeOf(pipeline({}))).toBe('updated');
    await schedules.pause(name, 'maintenance');
    expect((await schedules.describe(name))!.state).toMatchObject({ paused: true, note: 'maintenance' });
    expect(await outcomeOf(pipeline({}))).toBe('unchanged');
    expect((await schedules.describe(name))!.state.paused).toBe(true);
    await schedules.unpause(name);
    const row = (await schedules.list()).find((r) => r.scheduleId === id)!;
    expect(row).toMatchObject({ paused: false, cron: '@daily' });
    expect(row.nextRun).toBeInstanceOf(Date);
  });

  test('trigger starts a batch run that completes and shows as the last run', async () => {
    await schedules.trigger(name);
    const started = await waitFor(async () => (await schedules.describe(name))!.info.recentActions.at(-1)?.action.workflow, {
      description: 'the schedule to start a workflow',
    });
    expect(started.workflowId.startsWith(`${id}-`)).toBe(true);
    const report: BatchReport = await env.client.workflow.getHandle(started.workflowId).result();
    expect(report).toMatchObject({ pipeline: name, partitions: 2, recordsIn: 600, malformed: 2 });
    const row = await waitFor(async () => (await schedules.list()).find((r) => r.scheduleId === id && r.lastRun?.status === 'COMPLETED'));
    expect(row.lastRun!.workflowId).toBe(started.workflowId);
  });

  test('the CLI applies idempotently and lists the schedule', async () => {
    const file = path.join(os.tmpdir(), `kto-pipelines-${name}.yaml`);
    writeFileSync(file, JSON.stringify({ batch: [{ name, topic, outputTopic: `${topic}.out`, groupId: `${topic}.group`, schedule: { cron: '0 3 * * *' } }] }));
    const cliEnv = { KTO_PIPELINES_FILE: file, KTO_TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue };
    const first = await runKto(['schedule', 'apply'], cliEnv);
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toMatch(new RegExp(`^updated +${id}$`, 'm'));
    expect((await runKto(['schedule', 'apply'], cliEnv)).stdout).toMatch(new RegExp(`^unchanged +${id}$`, 'm'));
    const listed = await runKto(['schedule', 'list', '--json'], cliEnv);
    const rows = (JSON.parse(listed.stdout) as { scheduleId: string; cron: string }[]).filter((r) => r.scheduleId === id);
    expect(rows).toEqual([expect.objectContaining({ cron: '0 3 * * *' })]);
  });

  test('delete removes it; the CLI then says it does not exist', async () => {
    await schedules.delete(name);
    expect(await schedules.describe(name)).toBeUndefined();
    const result = await runKto(['schedule', 'pause', name]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`schedule ${id} does not exist`);
  });
});
