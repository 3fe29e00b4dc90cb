import { randomUUID } from 'node:crypto';
import { createEmailActivities } from '../../activities/email';
import { loadConfig } from '../../src/config';
import type { StoredMessage } from '../../src/devstack/mailbox';
import { createLogger } from '../../src/logger';

/** Polls until `check` returns a value; fails with the last observation instead of sleeping a fixed time. */
async function waitFor<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const controlUrl = () => {
  const url = process.env.KTO_TEST_SMTP_CONTROL_URL;
  if (!url) throw new Error('KTO_TEST_SMTP_CONTROL_URL is not set: run this through the integration project, whose global setup starts the stack');
  return url.replace(/\/+$/, '');
};

test('an email sent by the activity arrives in the dev stack SMTP sink', async () => {
  const config = loadConfig();
  const email = createEmailActivities({ smtp: config.smtp, logger: createLogger({ level: 'silent' }) });
  // Unique subject: the sink is shared by every integration test in this run.
  const subject = `kto integration ${randomUUID()}`;

  const result = await email.sendEmail({ to: ['ops@example.com', 'audit@example.com'], subject, text: 'disk almost full' });
  expect(result.accepted).toEqual(['ops@example.com', 'audit@example.com']);

  const stored = await waitFor(async () => {
    const res = await fetch(`${controlUrl()}/messages`);
    const messages = (await res.json()) as StoredMessage[];
    return messages.find((m) => m.subject === subject);
  }, `a message with subject "${subject}" in GET /messages`);
  expect(stored.to).toEqual(['ops@example.com', 'audit@example.com']);
  expect(config.smtp.from).toContain(stored.from);

  const raw = await (await fetch(`${controlUrl()}/messages/${stored.id}`)).text();
  expect(raw).toContain('disk almost full');
  expect(raw).toContain(`Message-ID: ${result.messageId}`);
});
