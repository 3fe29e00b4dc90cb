import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { simpleParser } from 'mailparser';
import { createMailbox } from '../../src/devstack/mailbox';
import { startSmtpSink, type SmtpSink } from '../../src/devstack/smtp-sink';
import { createLogger } from '../../src/runtime/logger';

let dir: string;
let sink: SmtpSink;
let control: string;

const transport = () =>
  nodemailer.createTransport({ host: '127.0.0.1', port: sink.smtpPort, secure: false, auth: { user: 'alice', pass: 's3cret' }, connectionTimeout: 3000 });

async function fail(body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${control}/fail`, { method: 'POST', body: JSON.stringify(body) });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kto-sink-'));
  // Port 0: the OS picks free ports at bind time, so parallel test files never collide.
  sink = await startSmtpSink({ port: 0, controlPort: 0, dir, logger: createLogger({ level: 'silent' }) });
  control = `http://127.0.0.1:${sink.controlPort}`;
});

afterAll(async () => {
  await sink?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  const res = await fetch(`${control}/reset?messages=1`, { method: 'POST' });
  expect(res.status).toBe(200);
});

test('healthz answers ok', async () => {
  const res = await fetch(`${control}/healthz`);
  expect(res.status).toBe(200);
  expect(await res.text()).toBe('ok');
});

test('stores an accepted message as an .eml with its subject and recipients', async () => {
  const info = await transport().sendMail({ from: 'kto@example.com', to: 'ops@example.com', bcc: 'audit@example.com', subject: 'disk full', text: 'hello' });
  expect(info.accepted).toEqual(['ops@example.com', 'audit@example.com']);

  const files = (await readdir(dir)).filter((f) => f.endsWith('.eml'));
  expect(files).toHaveLength(1);
  const parsed = await simpleParser(await readFile(path.join(dir, files[0])));
  expect(parsed.subject).toBe('disk full');
  expect(parsed.text?.trim()).toBe('hello');

  const [listed] = await createMailbox(dir).list();
  expect(listed).toMatchObject({ from: 'kto@example.com', to: ['ops@example.com', 'audit@example.com'], subject: 'disk full' });
});

test('GET /messages lists messages oldest first and GET /messages/<id> returns the raw eml', async () => {
  for (const subject of ['first', 'second', 'third']) {
    await transport().sendMail({ from: 'kto@example.com', to: 'ops@example.com', subject, text: subject });
  }
  const list = (await (await fetch(`${control}/messages`)).json()) as Array<Record<string, unknown>>;
  expect(list.map((m) => m.subject)).toEqual(['first', 'second', 'third']);
  expect(list[0]).toMatchObject({ from: 'kto@example.com', to: ['ops@example.com'] });
  expect(typeof list[0].size).toBe('number');
  expect(Number.isNaN(Date.parse(String(list[0].date)))).toBe(false);

  const raw = await fetch(`${control}/messages/${String(list[1].id)}`);
  expect(raw.status).toBe(200);
  expect(await raw.text()).toMatch(/^Subject: second$/m);
  expect((await fetch(`${control}/messages/nope`)).status).toBe(404);
});

test('a 451 fault rejects the next two attempts as transient, the third succeeds', async () => {
  await fail({ count: 2, code: 451, message: 'greylisted' });
  const send = () => transport().sendMail({ from: 'kto@example.com', to: 'ops@example.com', subject: 'retry me', text: 'x' });

  await expect(send()).rejects.toMatchObject({ responseCode: 451 });
  await expect(send()).rejects.toMatchObject({ responseCode: 451, response: expect.stringContaining('greylisted') });
  await expect(send()).resolves.toMatchObject({ accepted: ['ops@example.com'] });

  const stats = (await (await fetch(`${control}/stats`)).json()) as Record<string, unknown>;
  expect(stats).toMatchObject({ accepted: 1, rejected: 2, pendingFault: null });
  expect(await createMailbox(dir).list()).toHaveLength(1);
});

test('a 550 fault is a permanent error and nothing is stored', async () => {
  await fail({ code: 550, message: 'no such user' });
  await expect(transport().sendMail({ from: 'kto@example.com', to: 'ops@example.com', subject: 'bounce', text: 'x' })).rejects.toMatchObject({
    responseCode: 550,
  });
  expect(await createMailbox(dir).list()).toHaveLength(0);
});

test('a RCPT fault rejects the envelope once per attempt, however many recipients', async () => {
  await fail({ code: 450, at: 'rcpt' });
  await expect(
    transport().sendMail({ from: 'kto@example.com', to: ['a@example.com', 'b@example.com'], subject: 'rcpt', text: 'x' }),
  ).rejects.toMatchObject({ code: 'EENVELOPE', responseCode: 450 });
  await expect(transport().sendMail({ from: 'kto@example.com', to: ['a@example.com', 'b@example.com'], subject: 'rcpt', text: 'x' })).resolves.toMatchObject({
    accepted: ['a@example.com', 'b@example.com'],
  });
});

test('POST /fail explains a bad request', async () => {
  const res = await fetch(`${control}/fail`, { method: 'POST', body: JSON.stringify({ code: 250 }) });
  expect(res.status).toBe(400);
  expect(((await res.json()) as { error: string }).error).toMatch(/code/);
});
