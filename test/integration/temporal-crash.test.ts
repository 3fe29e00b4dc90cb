import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineCommand } from '../../src/commands/registry';
import type { BatchReport } from '../../src/shared/batch';
import { createTestPipeline, expectExactlyOnce, startBatch } from '../support/batch-harness';
import { committedOffset, dispatcherConfig, metricValue, sendCommands, startDispatcher } from '../support/dispatcher-harness';
import { waitFor } from '../support/helpers';
import { useTestEnv } from '../support/test-env';
import { killTestService } from '../support/test-stack';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';

/**
 * kill -9 of the Temporal server (the dev server of the test stack, SQLite in WAL mode) while
 * work is in flight, then a restart on the same database file and ports: runs carry on from
 * their durable history, and kto's idempotent steps keep what was done once done once. The
 * other test files of the jest run find the restarted server.
 */
const env = useTestEnv('temporal-crash', { worker: false });
const workers: WorkerProcess[] = [];

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill('SIGKILL')));
});

/** Longer than the test pipelines' worker-loss (heartbeat) timeout of 3 s: the server finds every heartbeat overdue when it returns. */
const DOWN_MS = 5_000;

/** kill -9 of the Temporal server; it stays down for DOWN_MS, then starts again on the same database file and ports. */
async function crashTemporal(): Promise<void> {
  const stack = await killTestService(env.config.devstack.ports, 'temporal');
  await sleep(DOWN_MS);
  await stack.up();
}

test('kill -9 of the Temporal server after a partition committed its output and before Temporal heard of it: the run completes once the server is back, nothing lost or doubled', async () => {
  const taskQueue = `temporal-crash-${randomUUID().slice(0, 8)}`;
  const config = { ...env.config, temporal: { ...env.config.temporal, taskQueue } };
  const pipeline = await createTestPipeline(env.kafka, 2, 25);
  await pipeline.produce(1_500);
  const worker = startWorkerProcess({ taskQueue, dir: path.join(process.env.KTO_DEVSTACK_DIR!, 'temporal-crash', taskQueue), hold: 'after:produce' });
  workers.push(worker);

  const handle = await startBatch(env.client, config, pipeline.options, `temporal-crash-${taskQueue}`);
  // The output, the dead letters and the offset move are committed in Kafka; the step's completion is not reported yet.
  await worker.held();
  await crashTemporal();
  // The server gave the held produce step up as lost and retries it: the retry finds the range already committed.
  worker.release();

  const report: BatchReport = await handle.result();
  expect(report.recordsIn).toBe(1_500);
  // The held partition's retry finds its range committed; the other partition may have reached
  // its produce step only after the server came back, and commits then.
  const statuses = report.partitionSummaries.map((s) => s.status);
  expect(statuses).toContain('already-committed');
  expect(statuses.every((s) => s === 'committed' || s === 'already-committed')).toBe(true);
  await expectExactlyOnce(config, env.kafka, pipeline.options);
});

test('kill -9 of the Temporal server in the middle of a burst of commands: after the restart the dispatcher starts each command once, none lost, every offset committed', async () => {
  const config = dispatcherConfig(env.config);
  const { topic, groupId } = config.dispatcher;
  const partitions = 2;
  const count = 400;
  await env.kafka.admin.ensureTopics([{ topic, partitions }]);
  // Workflows on a queue no worker polls: what is measured is the starts, one per command.
  const unpolled = `${topic}-unpolled`;
  const burst = defineCommand({
    name: 'test.burst',
    workflow: 'sendEmailAlert',
    params: z.object({ n: z.number() }),
    taskQueue: unpolled,
    idOf: ({ params }) => `${topic}-burst-${params.n}`,
  });
  const dispatcher = startDispatcher({ ...env, config }, { extra: [burst] });
  try {
    await sendCommands(
      env.kafka,
      topic,
      Array.from({ length: count }, (_, n) => ({ command: 'test.burst', params: { n }, key: `k${n}` })),
    );
    const started = () => metricValue(dispatcher.dispatcher, 'kto_commands_started_total');
    await waitFor(async () => (await started()) >= 50, { timeoutMs: 60_000, description: 'the burst to be under way' });
    await crashTemporal();
    expect(await started()).toBeLessThan(count); // the crash did land in the middle of the burst

    const ends = await env.kafka.admin.watermarks(topic);
    await waitFor(
      async () => {
        for (const end of ends) if ((await committedOffset(env.kafka, groupId, topic, end.partition)) !== end.high) return false;
        return true;
      },
      { timeoutMs: 120_000, description: 'every command offset committed' },
    );
    const listed = async () => {
      const ids: string[] = [];
      for await (const w of env.client.workflow.list({ query: `TaskQueue = '${unpolled}'` })) ids.push(w.workflowId);
      return ids;
    };
    // Visibility trails the starts a little; once it is complete (or the wait gives up), the check below compares every id.
    await waitFor(async () => (await listed()).length >= count, { description: 'every started workflow in visibility' }).catch(() => undefined);
    const numbers = (await listed()).map((id) => Number(/-burst-(\d+)$/.exec(id)?.[1])).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: count }, (_, n) => n));
  } finally {
    await dispatcher.stop();
  }
});
