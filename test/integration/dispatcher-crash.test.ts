import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { commandWorkflowId } from '../../src/commands/registry';
import type { KtoConfig } from '../../src/runtime/config';
import {
  committedOffset,
  countWorkflows,
  digestsTo,
  dispatcherConfig,
  emailWorkflowId,
  markerCounts,
  metricValue,
  sendCommands,
  sinkMessages,
  startDispatcher,
  waitForMail,
} from '../support/dispatcher-harness';
import { waitFor } from '../support/helpers';
import { useTestEnv } from '../support/test-env';
import { startTestProcess } from '../support/worker-process';

const env = useTestEnv('dispatcher-crash-q');

/** `kto dispatcher` as its own process (test/support/fault-dispatcher.ts), parking after each start when `hold`. */
function spawnDispatcher(config: KtoConfig, dir: string, hold = true) {
  return startTestProcess({
    script: 'fault-dispatcher.ts',
    name: 'dispatcher',
    dir,
    env: {
      KTO_TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
      KTO_DISPATCHER_TOPIC: config.dispatcher.topic,
      KTO_DISPATCHER_GROUP: config.dispatcher.groupId,
      KTO_DEAD_LETTER_TOPIC: config.dispatcher.deadLetterTopic,
      KTO_TEST_HOLD_DIR: hold ? dir : '',
    },
  });
}

/**
 * The crash window: a fault dispatcher started on a fresh one-partition topic gets `commands`,
 * parks right after starting `heldId` (visible in Temporal, its offset not committed), and is
 * killed -9 there.
 */
async function crashAfterStart(config: KtoConfig, commands: Parameters<typeof sendCommands>[2], heldId: string): Promise<void> {
  const { topic, groupId } = config.dispatcher;
  const dir = path.join(process.env.KTO_DEVSTACK_DIR!, 'test-artifacts', topic);
  const crashing = spawnDispatcher(config, dir);
  try {
    await sendCommands(env.kafka, topic, commands);
    await waitFor(() => existsSync(path.join(dir, 'held')), { timeoutMs: 60_000, description: `the dispatcher to park after starting ${heldId}` });
    expect(readFileSync(path.join(dir, 'held'), 'utf8')).toBe(heldId);
    // Started, not committed: exactly the window a crash must not turn into a lost or doubled command.
    await waitFor(async () => (await countWorkflows(env.client, heldId)) === 1, { description: `${heldId} in visibility` });
    expect(await committedOffset(env.kafka, groupId, topic)).toBeNull();
  } finally {
    await crashing.kill();
  }
}

test('kill -9 of the dispatcher between the workflow start and the offset commit: the replay starts nothing new, one workflow, one email', async () => {
  const config = dispatcherConfig(env.config);
  const { topic, groupId } = config.dispatcher;
  await env.kafka.admin.ensureTopics([{ topic, partitions: 1 }]);
  const subject = `crash ${topic}`;
  const workflowId = emailWorkflowId(`${topic}-0-0`);

  await crashAfterStart(config, [{ command: 'app.send_email_alert', params: { email: 'ops@example.com', subject } }], workflowId);
  await waitForMail(subject);

  const restarted = startDispatcher({ ...env, config });
  try {
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 1n, { timeoutMs: 90_000, description: 'the replayed command to be committed' });
    expect(await metricValue(restarted.dispatcher, 'kto_commands_consumed_total')).toBe(1);
    expect(await metricValue(restarted.dispatcher, 'kto_commands_duplicate_total')).toBe(1);
    expect(await metricValue(restarted.dispatcher, 'kto_commands_started_total')).toBe(0);
    expect(await countWorkflows(env.client, workflowId)).toBe(1);
    expect((await sinkMessages()).filter((m) => m.subject === subject)).toHaveLength(1);
  } finally {
    await restarted.stop();
  }
});

test('kill -9 of the dispatcher between a batch start and the offset commit: the replay starts a batch of only the commands the first one did not hold', async () => {
  const config = dispatcherConfig(env.config);
  const { topic, groupId } = config.dispatcher;
  await env.kafka.admin.ensureTopics([{ topic, partitions: 1 }]);
  const to = `digest-${topic}@example.com`;
  const markers = Array.from({ length: 10 }, (_, i) => `[c${i}]`);
  const digest = (i: number) => ({ command: 'app.send_email_digest', key: to, params: { email: to, subject: `crash ${markers[i]}`, body: `body ${markers[i]}` } });
  const firstBatch = commandWorkflowId('app.send_email_digest', `batch-${topic}-0-0`);

  await crashAfterStart(config, [0, 1, 2, 3, 4].map(digest), firstBatch);
  // More commands of the same key arrive before the restart: the replay gathers all ten again.
  await sendCommands(env.kafka, topic, [5, 6, 7, 8, 9].map(digest));

  const restarted = startDispatcher({ ...env, config });
  try {
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 10n, { timeoutMs: 90_000, description: 'the ten commands to be committed' });
    const mails = await waitFor(async () => ((await digestsTo(to)).length >= 2 ? digestsTo(to) : undefined), { description: 'two digests' });
    expect(mails).toHaveLength(2);
    // Each command in exactly one digest: its subject and body once in the list, the first of each batch also in the mail's subject.
    expect(markerCounts(mails, markers)).toEqual(Object.fromEntries(markers.map((m, i) => [m, i === 0 || i === 5 ? 3 : 2])));
    expect(await countWorkflows(env.client, firstBatch)).toBe(1);
    expect(await countWorkflows(env.client, commandWorkflowId('app.send_email_digest', `batch-${topic}-0-5`))).toBe(1);
    expect(await metricValue(restarted.dispatcher, 'kto_commands_duplicate_total')).toBe(5);
    expect(await metricValue(restarted.dispatcher, 'kto_commands_batched_total')).toBe(5);
  } finally {
    await restarted.stop();
  }
});

test('SIGTERM: the dispatcher process commits what it started, leaves the group and exits 0', async () => {
  const config = dispatcherConfig(env.config);
  const { topic, groupId } = config.dispatcher;
  await env.kafka.admin.ensureTopics([{ topic, partitions: 1 }]);
  const dir = path.join(process.env.KTO_DEVSTACK_DIR!, 'test-artifacts', topic);
  const subject = `graceful ${topic}`;
  const proc = spawnDispatcher(config, dir, false);
  try {
    await sendCommands(env.kafka, topic, [{ command: 'app.send_email_alert', params: { email: 'ops@example.com', subject } }]);
    await waitForMail(subject, 60_000);
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 1n, { description: 'offset 1 committed' });
    await proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.log()).toContain('dispatcher stopped');
  } finally {
    await proc.kill();
  }
});
