import { randomUUID } from 'node:crypto';
import { createEmailActivities } from '../../activities/email';
import { createLogger } from '../../src/runtime/logger';
import { sinkRaw, waitForMail } from '../support/dispatcher-harness';
import { testConfig } from '../support/helpers';

test('an email sent by the activity arrives in the dev stack SMTP sink', async () => {
  const config = testConfig();
  const email = createEmailActivities({ smtp: config.smtp, logger: createLogger({ level: 'silent' }) });
  // Unique subject: the sink is shared by every integration test in this run.
  const subject = `kto integration ${randomUUID()}`;

  const result = await email.sendEmail({ to: ['ops@example.com', 'audit@example.com'], subject, text: 'disk almost full' });
  expect(result.accepted).toEqual(['ops@example.com', 'audit@example.com']);

  const stored = await waitForMail(subject, 15_000);
  expect(stored.to).toEqual(['ops@example.com', 'audit@example.com']);
  expect(config.smtp.from).toContain(stored.from);

  const raw = await sinkRaw(stored.id);
  expect(raw).toContain('disk almost full');
  expect(raw).toContain(`Message-ID: ${result.messageId}`);
});
