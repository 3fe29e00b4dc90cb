import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { withFailures } from '../../activities/failures';
import { createIngestSourceActivities } from '../../activities/ingest-source';
import { randomUserPage } from '../../src/devstack/random-user-source';
import { SourceRejectedError } from '../../src/ingest/define';
import { DEFAULT_MAX_RESPONSE_BYTES, httpGet } from '../../src/ingest/http-get';
import { randomUserSource } from '../../src/ingest/random-user';
import type { KafkaIo } from '../../src/kafka';
import { ingestOptionsOf, parsePipelines } from '../../src/project/pipelines-file';
import { createLogger } from '../../src/runtime/logger';
import { ingestWithDefaults, type IngestOptions, type PollCounts } from '../../src/shared/ingest';

// The built-in HTTP source reads endpoints kto does not control: against a real local server,
// it refuses redirects unless allowed, stops reading at its body cap, and never prints the
// credentials written into its url.

const SECRET = 's3cret-pa55';
type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let base: string;
let handler: Handler;
/** Authorization headers the server received. */
let authorizations: (string | undefined)[];

beforeAll(async () => {
  server = createServer((req, res) => {
    authorizations.push(req.headers.authorization);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  authorizations = [];
  handler = (_req, res) => res.writeHead(500).end();
});

const withCredentials = (path: string) => `http://reader:${SECRET}@${base.slice('http://'.length)}${path}`;
const page = (n: number) => JSON.stringify({ results: randomUserPage('http-test', 1, n) });

function fetchRecords(options: Record<string, unknown>): Promise<readonly unknown[]> {
  return Promise.resolve(randomUserSource.fetch({ pipeline: 'users', topic: 'users', options, signal: AbortSignal.timeout(10_000), poll: 1 }));
}

async function failureOf(work: Promise<unknown>): Promise<Error> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error(`expected a failure, got ${String(err)}`);
  return err;
}

describe('redirects', () => {
  beforeEach(() => {
    handler = (req, res) => {
      if (req.url === '/moved') res.writeHead(302, { location: `http://mirror:other-${SECRET}@example.invalid/api/?results=2&token=${SECRET}` }).end();
      else if (req.url === '/local-move') res.writeHead(301, { location: '/api/' }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(page(2));
    };
  });

  test('are refused by default: a non-retryable error naming the status, where it points (redacted) and the option', async () => {
    const err = await failureOf(fetchRecords({ url: withCredentials('/moved') }));
    expect(err).toBeInstanceOf(SourceRejectedError);
    expect(err.message).toContain(`GET ${base.replace('http://', 'http://redacted@')}/moved answered HTTP 302`);
    expect(err.message).toContain('a redirect to http://redacted@example.invalid/api/?results=2&token=redacted');
    expect(err.message).toMatch(/Fix: .*followRedirects: true/);
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain('mirror');
  });

  test('are followed when the source options allow it', async () => {
    await expect(fetchRecords({ url: `${base}/local-move`, followRedirects: true })).resolves.toHaveLength(2);
  });

  test('fail the ingest run at once, not poll after poll', async () => {
    const err = await failureOf(pollWindow({ url: withCredentials('/moved'), topic: 'users', intervalMs: 50, windowMs: 2_000 }));
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'SourceRejected', nonRetryable: true, message: expect.stringContaining('answered HTTP 302') });
    expect(authorizations).toHaveLength(1);
  });

  test('are followed by a url pipeline with followRedirects: true', async () => {
    const counts = await pollWindow({ url: `${base}/local-move`, followRedirects: true, topic: 'users', intervalMs: 50, windowMs: 200 });
    expect(counts.errors).toBe(0);
    expect(counts.produced).toBeGreaterThan(0);
  });
});

describe('the body size cap', () => {
  /** Streams JSON without a length for as long as the client reads; the request's `done` resolves when the client hangs up. */
  function endless(): Promise<number> {
    return new Promise<number>((resolve) => {
      handler = (_req, res) => {
        let sent = 0;
        const body = new PassThrough();
        res.writeHead(200, { 'content-type': 'application/json' });
        body.pipe(res);
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const push = () => {
          while (!res.destroyed && body.write(chunk)) sent += chunk.length;
          if (!res.destroyed) body.once('drain', push);
        };
        res.on('close', () => resolve(sent));
        body.write('{"results":[');
        push();
      };
    });
  }

  test('is 16 MiB unless set', () => {
    expect(DEFAULT_MAX_RESPONSE_BYTES).toBe(16 * 1024 * 1024);
  });

  test('stops reading an endless answer and fails naming the cap and how to raise it', async () => {
    const hungUp = endless();
    const err = await failureOf(fetchRecords({ url: withCredentials('/api/'), maxResponseBytes: 1024 * 1024 }));
    expect(err).toBeInstanceOf(SourceRejectedError);
    expect(err.message).toMatch(/answered over \d+ bytes, more than the 1 MiB \(1048576 bytes\) a poll reads\. Fix: .*raise the pipeline's maxResponseBytes/);
    expect(err.message).not.toContain(SECRET);
    // The connection is dropped, not drained: the server stops well short of what it would send.
    expect(await hungUp).toBeLessThan(8 * 1024 * 1024);
  });

  test('refuses an answer whose declared length is over the cap before reading it', async () => {
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(4096) }).end(' '.repeat(4096));
    const err = await failureOf(httpGet(`${base}/api/`, { maxResponseBytes: 4000 }));
    expect(err).toBeInstanceOf(SourceRejectedError);
    expect(err.message).toContain('answered 4096 bytes, more than the 4000 bytes a poll reads');
  });

  test('lets an answer of exactly the cap through', async () => {
    const body = page(3);
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    await expect(fetchRecords({ url: `${base}/api/`, maxResponseBytes: Buffer.byteLength(body) })).resolves.toHaveLength(3);
  });
});

describe('credentials in the url', () => {
  test('go to the server as Basic authentication', async () => {
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(page(1));
    await expect(fetchRecords({ url: withCredentials('/api/') })).resolves.toHaveLength(1);
    expect(authorizations).toEqual([`Basic ${Buffer.from(`reader:${SECRET}`).toString('base64')}`]);
  });

  test('appear in no error and no log line of a failing poll', async () => {
    const lines: string[] = [];
    const destination = new PassThrough().on('data', (line: Buffer) => lines.push(line.toString()));
    const logger = createLogger({ level: 'debug', pretty: false, destination });
    const failures: string[] = [];
    for (const status of [503, 404]) {
      handler = (_req, res) => res.writeHead(status).end();
      failures.push((await failureOf(fetchRecords({ url: withCredentials('/api/?results=1') }))).message);
    }
    // A port nothing listens on any more: a network error.
    failures.push((await failureOf(fetchRecords({ url: `http://reader:${SECRET}@127.0.0.1:${await closedPort()}/api/` }))).message);
    expect(failures).toEqual([expect.stringContaining('answered HTTP 503'), expect.stringContaining('answered HTTP 404'), expect.stringContaining('ECONNREFUSED')]);
    for (const message of failures) expect(message).toContain('http://redacted@127.0.0.1:');

    handler = (_req, res) => res.writeHead(503).end();
    const counts = await pollWindow({ url: withCredentials('/api/'), topic: 'users', intervalMs: 20, windowMs: 300 }, logger);
    expect(counts.errors).toBeGreaterThan(0);
    const polls = lines.filter((l) => l.includes('poll failed'));
    expect(polls.length).toBeGreaterThan(0);
    expect(polls[0]).toContain('redacted@127.0.0.1');
    expect([...failures, ...lines].filter((text) => text.includes(SECRET))).toEqual([]);
  });

  test("are redacted from a project source's own error messages before they are logged", async () => {
    const lines: string[] = [];
    const destination = new PassThrough().on('data', (line: Buffer) => lines.push(line.toString()));
    const logger = createLogger({ level: 'debug', pretty: false, destination });
    // Node's fetch refuses such a URL with an error that quotes it whole.
    const counts = await pollWindow({ source: 'own', sourceOptions: { url: withCredentials('/api/') }, topic: 'users', intervalMs: 20, windowMs: 200 }, logger, {
      own: path.join(__dirname, '../fixtures/ingest-http/plain-fetch-source.ts'),
    });
    expect(counts.errors).toBeGreaterThan(0);
    expect(lines.join('')).toContain('redacted@127.0.0.1');
    expect(lines.join('')).not.toContain(SECRET);
  });
});

describe('pipeline fields', () => {
  test('followRedirects and maxResponseBytes are url-form fields that reach the workflow input', () => {
    const file = parsePipelines({ ingest: [{ name: 'users', url: 'http://127.0.0.1:8099/api/', topic: 'users', followRedirects: true, maxResponseBytes: 65536 }] });
    expect(ingestWithDefaults(ingestOptionsOf(file.ingest[0]))).toMatchObject({ followRedirects: true, maxResponseBytes: 65536 });
    const problems = (ingest: object) => {
      try {
        parsePipelines({ ingest: [ingest] });
        return '';
      } catch (err) {
        return (err as { problems: string[] }).problems.join('\n');
      }
    };
    expect(problems({ name: 'a', topic: 't', source: './s.ts', followRedirects: true })).toMatch(/followRedirects goes with url; a source module reads its own settings from sourceOptions/);
    expect(problems({ name: 'a', topic: 't', url: 'http://x/', maxResponseBytes: 0 })).toMatch(/maxResponseBytes must be at least 1/);
    expect(problems({ name: 'a', topic: 't', url: 'http://x/', followRedirects: 'yes' })).toMatch(/followRedirects must be true or false/);
  });
});

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Runs one ingest window through the activity as the worker registers it (kto's errors become Temporal failures), Kafka faked. */
async function pollWindow(options: IngestOptions, logger = createLogger({ level: 'silent', pretty: false }), sources: Record<string, string> = {}): Promise<PollCounts> {
  const kafka = { admin: { ensureTopics: async () => undefined }, produce: async () => undefined } as unknown as KafkaIo;
  const { pollSource } = withFailures(createIngestSourceActivities({ kafka, logger, sources }));
  const input = ingestWithDefaults(options);
  return (await new MockActivityEnvironment().run(pollSource, { ...input, until: Date.now() + input.windowMs })) as PollCounts;
}
