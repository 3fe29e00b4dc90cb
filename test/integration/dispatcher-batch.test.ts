import { commandWorkflowId } from '../../src/commands/registry';
import { committedOffset, countWorkflows, digestsTo, dispatcherConfig, markerCounts, metricValue, sendCommands, startDispatcher } from '../support/dispatcher-harness';
import { waitFor } from '../support/helpers';
import { useTestEnv } from '../support/test-env';

const env = useTestEnv('dispatcher-batch-q');

test('micro-batching: digest commands become one workflow and one mail per recipient key; a bad one is dead-lettered alone', async () => {
  const config = dispatcherConfig(env.config);
  const { topic, groupId } = config.dispatcher;
  await env.kafka.admin.ensureTopics([{ topic, partitions: 1 }]);
  const recipients = [`a-${topic}@example.com`, `b-${topic}@example.com`];
  const markers = recipients.map((_, r) => Array.from({ length: 12 }, (_, i) => `[m${r}-${String(i).padStart(2, '0')}]`));
  // Interleaved: offsets 0, 2, 4, … go to the first recipient, 1, 3, 5, … to the second; offset 24 is invalid.
  const commands = markers[0].flatMap((_, i) =>
    recipients.map((email, r) => ({ command: 'app.send_email_digest', key: email, params: { email, subject: `digest ${markers[r][i]}`, body: `body ${markers[r][i]}` } })),
  );
  commands.push({ command: 'app.send_email_digest', key: recipients[0], params: { email: 'not-an-address', subject: 'bad', body: 'bad' } });

  const { dispatcher, stop } = startDispatcher({ ...env, config });
  try {
    await sendCommands(env.kafka, topic, commands);
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 25n, { timeoutMs: 60_000, description: 'all 25 commands committed' });
    for (const [r, to] of recipients.entries()) {
      const mails = await waitFor(async () => ((await digestsTo(to)).length >= 1 ? digestsTo(to) : undefined), { description: `the digest to ${to}` });
      expect(mails).toHaveLength(1);
      expect(mails[0]).toContain('Subject: 12 alerts: digest');
      // Each alert's subject and body once in the list; the first one's subject also in the mail's subject.
      expect(Object.values(markerCounts(mails, markers[r]))).toEqual(markers[r].map((_, i) => (i === 0 ? 3 : 2)));
    }
    expect(await countWorkflows(env.client, commandWorkflowId('app.send_email_digest', `batch-${topic}-0-0`))).toBe(1);
    expect(await countWorkflows(env.client, commandWorkflowId('app.send_email_digest', `batch-${topic}-0-1`))).toBe(1);
    expect(await metricValue(dispatcher, 'kto_commands_started_total')).toBe(2);
    expect(await metricValue(dispatcher, 'kto_commands_batched_total')).toBe(24);
    expect(await metricValue(dispatcher, 'kto_commands_dead_lettered_total')).toBe(1);
  } finally {
    await stop();
  }
});
