import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import { createEmailActivities } from '../../activities/email';
import type { SmtpConfig } from '../../src/runtime/config';
import { startSmtpSink, type SmtpSink } from '../../src/devstack/smtp-sink';
import { createLogger } from '../../src/runtime/logger';

let dir: string;
let sink: SmtpSink;
let control: string;
let logLines: string[];
let smtp: SmtpConfig;

function activities(overrides: Partial<SmtpConfig> = {}) {
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  return createEmailActivities({ smtp: { ...smtp, ...overrides }, logger: createLogger({ destination }), timeoutMs: 2000 });
}

async function stats(): Promise<{ connections: number; accepted: number; rejected: number }> {
  return (await (await fetch(`${control}/stats`)).json()) as { connections: number; accepted: number; rejected: number };
}

async function failure(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kto-email-'));
  sink = await startSmtpSink({ port: 0, controlPort: 0, dir, logger: createLogger({ level: 'silent' }) });
  control = `http://127.0.0.1:${sink.controlPort}`;
  smtp = { host: '127.0.0.1', port: sink.smtpPort, secure: false, user: 'kto', password: 'hunter2-secret', from: 'kto <kto@example.com>' };
});

afterAll(async () => {
  await sink?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  logLines = [];
  await fetch(`${control}/reset?messages=1`, { method: 'POST' });
});

test('sends an email the sink stores, with defaults for subject and body, and never logs the password', async () => {
  const result = await activities().sendEmail({ to: 'test@email.com' });
  expect(result.accepted).toEqual(['test@email.com']);
  expect(result.messageId).toMatch(/^<.+@.+>$/);

  const [stored] = await sink.mailbox.list();
  expect(stored).toMatchObject({ from: 'kto@example.com', to: ['test@email.com'], subject: 'kto alert' });
  expect((await sink.mailbox.read(stored.id))?.toString()).toContain('This is an alert email sent by kto.');
  expect(logLines.join('')).toContain('email sent');
  expect(logLines.join('')).not.toContain('hunter2-secret');
});

test('accepts several recipients as an array or a comma-separated string', async () => {
  const result = await activities().sendEmail({ to: 'a@example.com, b@example.com', subject: 'two', html: '<p>hi</p>' });
  expect(result.accepted).toEqual(['a@example.com', 'b@example.com']);
});

test.each([
  ['subject', { to: 'ops@example.com', subject: 'hi\r\nBcc: victim@example.com' }],
  ['to', { to: ['ops@example.com\nBcc: victim@example.com'] }],
])('a line break in %s is a non-retryable InvalidEmailInput, and the sink is never contacted', async (field, input) => {
  const before = await stats();
  const err = await failure(activities().sendEmail(input));
  expect(err.type).toBe('InvalidEmailInput');
  expect(err.nonRetryable).toBe(true);
  expect(err.message).toContain(`"${field}"`);
  expect((await stats()).connections).toBe(before.connections);
});

test('an invalid address is a non-retryable InvalidEmailInput naming the address', async () => {
  const err = await failure(activities().sendEmail({ to: 'not-an-address' }));
  expect(err.type).toBe('InvalidEmailInput');
  expect(err.nonRetryable).toBe(true);
  expect(err.message).toContain('not-an-address');
});

test('a 5xx reply is a non-retryable SmtpPermanentError carrying the code', async () => {
  await fetch(`${control}/fail`, { method: 'POST', body: JSON.stringify({ code: 554, message: 'rejected by policy' }) });
  const err = await failure(activities().sendEmail({ to: 'ops@example.com' }));
  expect(err.type).toBe('SmtpPermanentError');
  expect(err.nonRetryable).toBe(true);
  expect(err.message).toContain('554');
  expect(err.details).toEqual([expect.objectContaining({ responseCode: 554 })]);
});

test('a 4xx reply is a retryable SmtpTransientError, and the next attempt succeeds', async () => {
  await fetch(`${control}/fail`, { method: 'POST', body: JSON.stringify({ count: 1, code: 421, message: 'try later' }) });
  const email = activities();
  const err = await failure(email.sendEmail({ to: 'ops@example.com' }));
  expect(err.type).toBe('SmtpTransientError');
  expect(err.nonRetryable).toBe(false);
  expect(err.details).toEqual([expect.objectContaining({ responseCode: 421 })]);

  await expect(email.sendEmail({ to: 'ops@example.com' })).resolves.toMatchObject({ accepted: ['ops@example.com'] });
  expect(await stats()).toMatchObject({ accepted: 1, rejected: 1 });
});

test('a refused connection is a retryable SmtpTransientError', async () => {
  // A port that was free a moment ago: nothing listens, so the connection is refused.
  const closed = await new Promise<number>((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
  const err = await failure(activities({ port: closed }).sendEmail({ to: 'ops@example.com' }));
  expect(err.type).toBe('SmtpTransientError');
  expect(err.nonRetryable).toBe(false);
  expect(err.message).toContain(`127.0.0.1:${closed}`);
});
