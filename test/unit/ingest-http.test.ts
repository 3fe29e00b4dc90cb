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
    // httpGet itself: it still takes credentials out of a url it is given (the random-user source refuses such a url).
    const err = await failureOf(httpGet(withCredentials('/moved')));
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
    const err = await failureOf(pollWindow({ url: `${base}/moved`, topic: 'users', intervalMs: 50, windowMs: 2_000 }));
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
    const err = await failureOf(httpGet(withCredentials('/api/'), { maxResponseBytes: 1024 * 1024 }));
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

describe('credentials', () => {
  const ENV = 'KTO_TEST_SOURCE_CREDENTIALS';
  const basic = (userinfo: string) => `Basic ${Buffer.from(userinfo).toString('base64')}`;
  afterEach(() => delete process.env[ENV]);

  test("from the worker's variable named by credentialsEnv go to the server as Basic authentication", async () => {
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(page(1));
    process.env[ENV] = `reader:${SECRET}:colons-allowed`;
    await expect(fetchRecords({ url: `${base}/api/`, credentialsEnv: ENV })).resolves.toHaveLength(1);
    const counts = await pollWindow({ url: `${base}/api/`, credentialsEnv: ENV, topic: 'users', intervalMs: 20, windowMs: 200 });
    expect(counts.produced).toBeGreaterThan(0);
    expect(new Set(authorizations)).toEqual(new Set([basic(`reader:${SECRET}:colons-allowed`)]));
  });

  test('a variable unset, empty or not user:password fails the run at once, naming the variable and the fix, never the value', async () => {
    handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(page(1));
    const messages: string[] = [];
    for (const value of [undefined, '', `token-${SECRET}`]) {
      if (value === undefined) delete process.env[ENV];
      else process.env[ENV] = value;
      const failure = await failureOf(pollWindow({ url: `${base}/api/`, credentialsEnv: ENV, topic: 'users', intervalMs: 20, windowMs: 5_000 }));
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: 'SourceRejected', nonRetryable: true });
      messages.push(failure.message);
    }
    expect(messages).toEqual([
      expect.stringMatching(new RegExp(`credentialsEnv names the environment variable ${ENV}, which is not set on this worker\\. Fix: set ${ENV}=user:password in the environment of every kto worker`)),
      expect.stringContaining(`${ENV}, which is empty on this worker`),
      expect.stringMatching(new RegExp(`${ENV} \\(credentialsEnv\\) must hold user:password`)),
    ]);
    expect(messages.join('\n')).not.toContain(SECRET);
    expect(authorizations).toEqual([]);
  });

  test('written into the url, they fail the run before any request: the url is redacted and the fix names credentialsEnv', async () => {
    const failure = await failureOf(pollWindow({ url: withCredentials('/api/'), topic: 'users', intervalMs: 20, windowMs: 5_000 }));
    expect(failure).toMatchObject({ type: 'SourceRejected', nonRetryable: true });
    expect(failure.message).toMatch(/the url http:\/\/redacted@127\.0\.0\.1:\d+\/api\/ carries credentials \(user:password@\), which would be stored in the workflow's input in Temporal's history/);
    expect(failure.message).toMatch(/Fix: remove user:password@ from the url, .* name it with credentialsEnv/);
    expect(failure.message).not.toContain(SECRET);
    expect(authorizations).toEqual([]);
  });

  test('appear in no error and no log line of a failing poll', async () => {
    const lines: string[] = [];
    const destination = new PassThrough().on('data', (line: Buffer) => lines.push(line.toString()));
    const logger = createLogger({ level: 'debug', pretty: false, destination });
    process.env[ENV] = `reader:${SECRET}`;
    const failures: string[] = [];
    for (const status of [503, 404]) {
      handler = (_req, res) => res.writeHead(status).end();
      failures.push((await failureOf(fetchRecords({ url: `${base}/api/?results=1`, credentialsEnv: ENV }))).message);
    }
    // httpGet itself still takes credentials out of a url it is given, and names it redacted.
    // A port nothing listens on any more: a network error.
    failures.push((await failureOf(httpGet(`http://reader:${SECRET}@127.0.0.1:${await closedPort()}/api/`))).message);
    expect(failures).toEqual([expect.stringContaining('answered HTTP 503'), expect.stringContaining('answered HTTP 404'), expect.stringContaining('ECONNREFUSED')]);
    expect(failures[2]).toContain('http://redacted@127.0.0.1:');

    handler = (_req, res) => res.writeHead(503).end();
    const counts = await pollWindow({ url: `${base}/api/`, credentialsEnv: ENV, topic: 'users', intervalMs: 20, windowMs: 300 }, logger);
    expect(counts.errors).toBeGreaterThan(0);
    expect(lines.filter((l) => l.includes('poll failed')).length).toBeGreaterThan(0);
    const header = basic(`reader:${SECRET}`).slice('Basic '.length);
    expect([...failures, ...lines].filter((text) => text.includes(SECRET) || text.includes(header))).toEqual([]);
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
  const problems = (ingest: object) => {
    try {
      parsePipelines({ ingest: [ingest] });
      return '';
    } catch (err) {
      return (err as { problems: string[] }).problems.join('\n');
    }
  };

  test('followRedirects and maxResponseBytes are url-form fields that reach the workflow input', () => {
    const file = parsePipelines({ ingest: [{ name: 'users', url: 'http://127.0.0.1:8099/api/', topic: 'users', followRedirects: true, maxResponseBytes: 65536 }] });
    expect(ingestWithDefaults(ingestOptionsOf(file.ingest[0]))).toMatchObject({ followRedirects: true, maxResponseBytes: 65536 });
    expect(problems({ name: 'a', topic: 't', source: './s.ts', followRedirects: true })).toMatch(/followRedirects goes with url; a source module reads its own settings from sourceOptions/);
    expect(problems({ name: 'a', topic: 't', url: 'http://x/', maxResponseBytes: 0 })).toMatch(/maxResponseBytes must be at least 1/);
    expect(problems({ name: 'a', topic: 't', url: 'http://x/', followRedirects: 'yes' })).toMatch(/followRedirects must be true or false/);
  });

  test('credentialsEnv is a url-form field naming a variable; only the name reaches the workflow input', () => {
    const file = parsePipelines({ ingest: [{ name: 'users', url: 'https://users.example.com/api/', topic: 'users', credentialsEnv: 'USERS_API_CREDENTIALS' }] });
    expect(ingestWithDefaults(ingestOptionsOf(file.ingest[0]))).toMatchObject({ url: 'https://users.example.com/api/', credentialsEnv: 'USERS_API_CREDENTIALS' });
    expect(problems({ name: 'a', topic: 't', url: 'http://x/', credentialsEnv: 'NOT-A-NAME' })).toMatch(/ingest\[0\] \(a\)\.credentialsEnv: credentialsEnv must be the name of an environment variable/);
    expect(problems({ name: 'a', topic: 't', url: 'http://x/', credentialsEnv: '1ST' })).toMatch(/credentialsEnv must be the name of an environment variable/);
    expect(problems({ name: 'a', topic: 't', source: './s.ts', credentialsEnv: 'X' })).toMatch(/credentialsEnv goes with url; a source module reads its own settings from sourceOptions/);
  });

  test('a url or sourceOptions with user:password@ is refused when the pipelines are loaded, with the fix and without the password', () => {
    const inUrl = problems({ name: 'a', topic: 't', url: `https://reader:${SECRET}@users.example.com/api/` });
    expect(inUrl).toMatch(
      /ingest\[0\] \(a\)\.url: the url https:\/\/redacted@users\.example\.com\/api\/ carries credentials \(user:password@\), which would be stored in the workflow's input in Temporal's history and shown in its UI\. Fix: remove user:password@ from the url, .*credentialsEnv: USERS_API_CREDENTIALS/,
    );
    const userOnly = problems({ name: 'a', topic: 't', url: 'https://token-as-user@users.example.com/api/' });
    expect(userOnly).toMatch(/carries credentials/);
    expect(userOnly).not.toContain('token-as-user');
    const inOptions = problems({ name: 'a', topic: 't', source: './s.ts', sourceOptions: { endpoints: [{ url: `http://reader:${SECRET}@x/` }] } });
    expect(inOptions).toMatch(/\.sourceOptions: sourceOptions hold the url http:\/\/redacted@x\/ carries credentials .*Fix: keep the credentials in the worker's environment/);
    expect(inUrl + inOptions).not.toContain(SECRET);
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
