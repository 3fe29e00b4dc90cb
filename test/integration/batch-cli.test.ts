import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { produceVoltageSample } from '../../src/demo/voltage';
import { parsePipelines } from '../../src/project/pipelines-file';
import { createScheduleManager } from '../../src/temporal/schedules';
import type { BatchReport } from '../../src/shared/batch';
import { uniqueTopic, waitFor } from '../support/helpers';
import { useTestEnv } from '../support/test-env';
import { runKto } from '../support/run-cli';

/** Served by the in-process worker. */
/** Polled by nobody: a run started here stays in flight until the test terminates it. */
const idleQueue = `batch-cli-idle-${randomUUID()}`;
const cliEnv = (extra: Record<string, string> = {}) => ({ KTO_TEMPORAL_TASK_QUEUE: env.config.temporal.taskQueue, ...extra });

/** A pipelines file holding one pipeline, for the commands that take a pipeline name. */
function pipelinesFile(name: string, topic: string, extra: object = {}): string {
  const file = path.join(os.tmpdir(), `kto-pipelines-${name}.yaml`);
  writeFileSync(file, JSON.stringify({ batch: [{ name, topic, outputTopic: `${topic}.out`, groupId: `${topic}.group`, ...extra }] }));
  return file;
}

const env = useTestEnv('batch-cli');

describe('kto topics', () => {
  test('create --partitions, create --like copies the partition count, list shows both', async () => {
    const topic = uniqueTopic('cli-topic');
    expect(await runKto(['topics', 'create', topic, '--partitions', '3'])).toMatchObject({ code: 0, stdout: `created ${topic} (3 partitions)\n` });
    expect(await runKto(['topics', 'create', `${topic}.out`, '--like', topic])).toMatchObject({ code: 0, stdout: `created ${topic}.out (3 partitions)\n` });
    expect(await env.kafka.admin.partitions(`${topic}.out`)).toEqual([0, 1, 2]);
    // Idempotent with the same count; a different count is refused.
    expect((await runKto(['topics', 'create', `${topic}.out`, '--like', topic])).code).toBe(0);
    const clash = await runKto(['topics', 'create', `${topic}.out`, '--partitions', '5']);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain(`topic "${topic}.out" already exists with 3 partitions, not 5`);
    const listed = JSON.parse((await runKto(['topics', 'list', '--json'])).stdout) as { topic: string; partitions: number }[];
    expect(listed.filter((t) => t.topic.startsWith(topic))).toEqual([
      { topic, partitions: 3 },
      { topic: `${topic}.out`, partitions: 3 },
    ]);
  });

  test('produce writes JSON Lines keyed by a field; a bad line, a missing key or an unknown topic writes nothing and says why', async () => {
    const topic = uniqueTopic('cli-produce');
    await env.kafka.admin.ensureTopics([{ topic, partitions: 2 }]);
    const file = path.join(os.tmpdir(), `${topic}.jsonl`);
    writeFileSync(file, '{"service":"api","ms":3}\n\n{"service":"web","ms":5}\n{"service":"api","ms":8}\n');
    expect(await runKto(['topics', 'produce', topic, file, '--key-field', 'service'])).toMatchObject({ code: 0, stdout: `3 record(s) written to ${topic}\n` });
    const records = await env.kafka.readTopic({ topic });
    expect(records.map((r) => `${r.key}:${r.value}`).sort()).toEqual(['api:{"service":"api","ms":3}', 'api:{"service":"api","ms":8}', 'web:{"service":"web","ms":5}']);

    writeFileSync(file, '{"service":"api"}\nnot json\n');
    const bad = await runKto(['topics', 'produce', topic, file]);
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringMatching(/^kto: line 2 of .* is not JSON .*nothing was written\.\nfix: /) });
    writeFileSync(file, '{"ms":1}\n');
    expect((await runKto(['topics', 'produce', topic, file, '--key-field', 'service'])).stderr).toMatch(/line 1 of .* has no scalar field "service"/);
    expect((await env.kafka.readTopic({ topic })).length).toBe(3);
    expect((await runKto(['topics', 'produce', 'no-such-topic-kto', file])).stderr).toMatch(/Kafka topic "no-such-topic-kto" does not exist/);
  });

  test('create --like a missing topic says so', async () => {
    const result = await runKto(['topics', 'create', uniqueTopic('cli-out'), '--like', 'no-such-topic-kto']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--like topic "no-such-topic-kto" does not exist');
  });
});

describe('kto batch run', () => {
  test('--json prints only the run report as JSON; batch output shows the daily means', async () => {
    const topic = uniqueTopic('cli-batch');
    await env.kafka.admin.ensureTopics([{ topic, partitions: 3 }, { topic: `${topic}.out`, partitions: 3 }]);
    await produceVoltageSample(env.kafka, { topic, records: 3_000, partitions: 3, malformed: 6 });

    const result = await runKto(['batch', 'run', '--json', '--topic', topic, '--output-topic', `${topic}.out`, '--group', `${topic}.group`], cliEnv());
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout) as { workflowId: string; uiUrl: string; status: string; report: BatchReport };
    const workflowId = `kto-batch-${topic}.${topic}.group`;
    expect(json).toMatchObject({ workflowId, status: 'completed' });
    expect(json.uiUrl).toBe(`http://127.0.0.1:${env.config.devstack.ports.temporalUi}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
    expect(json.report).toMatchObject({ partitions: 3, recordsIn: 3_000, malformed: 6 });
    expect(json.report.partitionSummaries.map((s) => [s.partition, s.status, s.from, s.to])).toEqual([
      [0, 'committed', '0', '999'],
      [1, 'committed', '0', '999'],
      [2, 'committed', '0', '999'],
    ]);
    expect(result.stderr).toContain(json.uiUrl);

    const name = `out-${randomUUID().slice(0, 8)}`;
    const file = pipelinesFile(name, topic);
    const output = await runKto(['batch', 'output', name, '--json'], cliEnv({ KTO_PIPELINES_FILE: file }));
    const rows = JSON.parse(output.stdout) as { partition: number; value: { bucket: string; mean: number; count: number } }[];
    expect(rows).toHaveLength(json.report.recordsOut);
    expect(rows.reduce((n, r) => n + r.value.count, 0)).toBe(3_000 - 6);
    for (const r of rows) expect(r.value.mean).toBeGreaterThan(230);
    const table = await runKto(['batch', 'output', name, '--limit', '2'], cliEnv({ KTO_PIPELINES_FILE: file }));
    expect(table.stdout).toContain('2006-12-16');
    expect(table.stdout).toContain(`2 record(s) of ${topic}.out (read_committed)`);
  });

  test('a second run of a pipeline while one is in flight is refused, naming the running workflow', async () => {
    const name = `held-${randomUUID().slice(0, 8)}`;
    const topic = uniqueTopic('cli-held');
    const file = pipelinesFile(name, topic);
    const idle = { KTO_PIPELINES_FILE: file, KTO_TEMPORAL_TASK_QUEUE: idleQueue };
    const first = await runKto(['batch', 'run', name, '--no-wait', '--json'], idle);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ workflowId: `kto-batch-${name}`, status: 'started' });
    try {
      const second = await runKto(['batch', 'run', name], idle);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(`pipeline "${name}" already has a run in flight: workflow kto-batch-${name} (http://127.0.0.1:`);
      expect(second.stdout).toBe('');
    } finally {
      await env.client.workflow.getHandle(`kto-batch-${name}`).terminate('test cleanup');
    }
  });

  test('a manual run while a scheduled run is in flight is refused, naming the scheduled workflow', async () => {
    const name = `sched-held-${randomUUID().slice(0, 8)}`;
    const topic = uniqueTopic('cli-sched');
    const file = pipelinesFile(name, topic, { schedule: { cron: '@daily' } });
    const schedules = createScheduleManager({ client: env.client, taskQueue: idleQueue });
    await schedules.apply(parsePipelines(JSON.parse(readFileSync(file, 'utf8'))).batch);
    let scheduledId: string | undefined;
    try {
      await schedules.trigger(name);
      scheduledId = await waitFor(async () => (await schedules.describe(name))!.info.recentActions.at(-1)?.action.workflow.workflowId);
      const result = await runKto(['batch', 'run', name], { KTO_PIPELINES_FILE: file, KTO_TEMPORAL_TASK_QUEUE: idleQueue });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`already has a run in flight: workflow ${scheduledId} `);
      expect(scheduledId).toMatch(new RegExp(`^kto-batch-${name}-\\d{4}-\\d\\d-\\d\\dT`));
    } finally {
      await schedules.delete(name);
      if (scheduledId) await env.client.workflow.getHandle(scheduledId).terminate('test cleanup');
    }
  });

  test('a failed run exits 1 with the failure message', async () => {
    const topic = uniqueTopic('cli-fail');
    // Output topic smaller than the input: the batch refuses before reading anything.
    await env.kafka.admin.ensureTopics([{ topic, partitions: 2 }, { topic: `${topic}.out`, partitions: 1 }]);
    const result = await runKto(['batch', 'run', '--topic', topic, '--output-topic', `${topic}.out`, '--group', `${topic}.g`], cliEnv());
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/batch run kto-batch-\S+ failed: output topic "\S+\.out" has 1 partitions but input topic/);
  });

  test('an unknown pipeline name is a user error listing the known ones', async () => {
    const file = pipelinesFile('known-one', uniqueTopic('cli-known'));
    const result = await runKto(['batch', 'run', 'nope'], cliEnv({ KTO_PIPELINES_FILE: file }));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no batch pipeline named "nope"');
    expect(result.stderr).toContain('use one of: known-one');
  });
});
