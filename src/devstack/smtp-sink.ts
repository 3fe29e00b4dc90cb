import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { z } from 'zod';
import { createLogger, type Logger } from '../runtime/logger';
import { createMailbox, type Mailbox } from './mailbox';

/**
 * A local SMTP server that accepts every message and keeps it on disk (see mailbox.ts), plus an
 * HTTP control port to list messages and inject SMTP failures, so retry paths of the email
 * activity can be tested against a real SMTP conversation instead of a mocked transport.
 */
export interface SmtpSinkOptions {
  /** SMTP port; 0 picks a free one (read it back from `SmtpSink.smtpPort`). */
  port: number;
  /** HTTP control port; 0 picks a free one. */
  controlPort: number;
  /** Directory for `.eml` files and their sidecars; created on the first message. */
  dir: string;
  /** @default '127.0.0.1' */
  host?: string;
  /** Messages larger than this are refused with 552. @default 10 MiB */
  maxMessageBytes?: number;
  /** @default JSON lines on stdout */
  logger?: Logger;
}

export interface SmtpSink {
  readonly smtpPort: number;
  readonly controlPort: number;
  readonly mailbox: Mailbox;
  /** Stops accepting connections and waits for both servers to close. */
  close(): Promise<void>;
}

const failSchema = z.object({
  count: z.number().int().min(1).default(1),
  code: z.number().int().min(400).max(599),
  message: z.string().min(1).max(200).optional(),
  /** Where to refuse: after the message body (DATA) or at the first recipient (RCPT). */
  at: z.enum(['data', 'rcpt']).default('data'),
});
type Fault = z.infer<typeof failSchema> & { message: string };

interface Stats {
  /** SMTP connections opened, so tests can prove a client never connected. */
  connections: number;
  accepted: number;
  rejected: number;
}

function withDefaults(options: SmtpSinkOptions) {
  return {
    host: '127.0.0.1',
    maxMessageBytes: 10 * 1024 * 1024,
    logger: options.logger ?? createLogger({ destination: process.stdout }),
    ...options,
  };
}

function smtpError(code: number, message: string): Error {
  // smtp-server replies with err.responseCode; without it every rejection would be a 450.
  return Object.assign(new Error(message), { responseCode: code });
}

function listen(server: { listen(port: number, host: string, cb: () => void): unknown; once(e: 'error', cb: (err: Error) => void): unknown }, port: number, host: string) {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

/** Starts the SMTP sink and its control server; resolves once both listen. */
export async function startSmtpSink(options: SmtpSinkOptions): Promise<SmtpSink> {
  const o = withDefaults(options);
  const log = o.logger.child({ namespace: 'smtp-sink' });
  const mailbox = createMailbox(o.dir);
  const stats: Stats = { connections: 0, accepted: 0, rejected: 0 };
  let fault: Fault | undefined;
  // A RCPT fault counts one attempt per transaction, not per recipient.
  const rcptFaults = new WeakMap<SMTPServerSession, { transaction: number; error: Error }>();

  /** Consumes one injected failure for this attempt, if any is pending at this stage. */
  function takeFault(at: Fault['at']): Error | undefined {
    if (!fault || fault.at !== at) return undefined;
    const error = smtpError(fault.code, fault.message);
    fault.count -= 1;
    if (fault.count === 0) fault = undefined;
    stats.rejected += 1;
    return error;
  }

  const smtp = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    allowInsecureAuth: true,
    size: o.maxMessageBytes,
    // Shutdown waits this long for a client mid-delivery before cutting it off with 421.
    closeTimeout: 1000,
    logger: false,
    banner: 'kto dev SMTP sink',
    onConnect(_session, callback) {
      stats.connections += 1;
      callback();
    },
    onAuth(auth, session, callback) {
      // Any credentials work: the sink tests that kto sends them, not that they are right.
      log.info({ user: auth.username, method: auth.method, remote: session.remoteAddress }, 'auth accepted');
      callback(null, { user: auth.username ?? 'anonymous' });
    },
    onRcptTo(address, session, callback) {
      const pending = rcptFaults.get(session);
      if (pending && pending.transaction === session.transaction) return callback(pending.error);
      const error = takeFault('rcpt');
      if (error) {
        rcptFaults.set(session, { transaction: session.transaction, error });
        log.info({ to: address.address, code: (error as Error & { responseCode: number }).responseCode }, 'injected RCPT failure');
      }
      callback(error);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        if (stream.sizeExceeded) {
          stats.rejected += 1;
          log.warn({ ...envelope, limit: o.maxMessageBytes }, 'message too large');
          return callback(smtpError(552, `Message exceeds the sink's limit of ${o.maxMessageBytes} bytes`));
        }
        const error = takeFault('data');
        if (error) {
          log.info({ ...envelope, code: (error as Error & { responseCode: number }).responseCode }, 'injected DATA failure');
          return callback(error);
        }
        mailbox.store(Buffer.concat(chunks), envelope).then(
          (message) => {
            stats.accepted += 1;
            log.info({ id: message.id, from: message.from, to: message.to, subject: message.subject, size: message.size }, 'message stored');
            callback(null, `Queued as ${message.id}`);
          },
          (err: unknown) => {
            stats.rejected += 1;
            log.error({ err }, 'could not store message');
            callback(smtpError(451, `Sink could not store the message: ${(err as Error).message}`));
          },
        );
      });
    },
  });
  smtp.on('error', (err) => log.warn({ err: err.message }, 'smtp connection error'));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sink');
    const route = `${req.method} ${url.pathname.replace(/\/+$/, '') || '/'}`;
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (route === 'GET /healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    if (route === 'GET /stats') return json(200, { ...stats, pendingFault: fault ?? null });
    if (route === 'GET /messages') return json(200, await mailbox.list());
    if (route.startsWith('GET /messages/')) {
      const raw = await mailbox.read(decodeURIComponent(url.pathname.slice('/messages/'.length)));
      if (!raw) return json(404, { error: 'no message with that id; GET /messages lists the ids' });
      return void res.writeHead(200, { 'content-type': 'message/rfc822' }).end(raw);
    }
    if (route === 'POST /fail') {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req));
      } catch {
        return json(400, { error: 'body is not JSON; send e.g. {"count":2,"code":451,"message":"try later"}' });
      }
      const parsed = failSchema.safeParse(body);
      if (!parsed.success) {
        return json(400, { error: `invalid fault: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` });
      }
      const temporary = parsed.data.code < 500;
      fault = { ...parsed.data, message: parsed.data.message ?? (temporary ? 'Injected temporary failure, try again later' : 'Injected permanent failure') };
      log.info({ fault }, 'fault armed');
      return json(200, { fault });
    }
    if (route === 'POST /reset') {
      fault = undefined;
      stats.connections = 0;
      stats.accepted = 0;
      stats.rejected = 0;
      const deleted = url.searchParams.get('messages') === '1' ? await mailbox.clear() : 0;
      log.info({ deleted }, 'reset');
      return json(200, { deleted });
    }
    json(404, { error: `no route ${route}`, routes: ['GET /healthz', 'GET /stats', 'GET /messages', 'GET /messages/<id>', 'POST /fail', 'POST /reset[?messages=1]'] });
  }

  const control: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'control request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: (err as Error).message }));
    });
  });

  await listen(smtp, o.port, o.host);
  try {
    await listen(control, o.controlPort, o.host);
  } catch (err) {
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    throw err;
  }
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  const controlPort = (control.address() as AddressInfo).port;
  log.info({ host: o.host, smtpPort, controlPort, dir: mailbox.dir }, 'smtp sink listening');

  return {
    smtpPort,
    controlPort,
    mailbox,
    async close() {
      // Control first: a test polling /messages sees the sink go away before SMTP does.
      await new Promise<void>((resolve) => {
        control.close(() => resolve());
        control.closeAllConnections();
      });
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
      log.info('smtp sink stopped');
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 64 * 1024) req.destroy(new Error('control request body over 64 KiB'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '1025' },
      'control-port': { type: 'string', default: '1080' },
      dir: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
    },
  });
  const logger = createLogger({ destination: process.stdout, level: process.env.KTO_LOG_LEVEL ?? 'info' });
  if (!values.dir) {
    logger.fatal('--dir is required: the directory where received messages are stored, e.g. --dir .devstack/data/mail');
    process.exitCode = 2;
    return;
  }
  const sink = await startSmtpSink({
    port: Number(values.port),
    controlPort: Number(values['control-port']),
    dir: values.dir,
    host: values.host,
    logger,
  });
  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopping smtp sink');
    sink.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'smtp sink did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stdout.write(`${JSON.stringify({ level: 60, namespace: 'smtp-sink', msg: `smtp sink failed to start: ${(err as Error).message}` })}\n`);
    process.exit(1);
  });
}
