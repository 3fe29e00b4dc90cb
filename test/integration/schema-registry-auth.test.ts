import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createCommandDecoder, encodeAvroCommand } from '../../src/dispatcher/decode';
import { loadConfig, type KtoConfig } from '../../src/runtime/config';
import { committedOffset, countWorkflows, dispatcherConfig, emailWorkflowId, startDispatcher } from '../support/dispatcher-harness';
import { closedPort, waitFor } from '../support/helpers';
import { basicAuthorization, startRegistryProxy, type RegistryProxy } from '../support/registry-proxy';
import { useTestEnv } from '../support/test-env';

/**
 * Avro commands through a registry that wants credentials: a proxy in front of the stack's real
 * registry (Apicurio) checks them. `kto dispatcher` runs as a user runs it, from the CLI with the
 * Airflow pipelines' properties file, and every line it writes is kept to look for the password.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const USER = 'svc-kto';
const PASSWORD = 'Zq8-sr-secret-pw';
const WRONG = 'Zq8-wrong-password';
const TOKEN = 'Zq8-sr-static-token';

const env = useTestEnv('registry-auth-q');
let proxy: RegistryProxy;
let dir: string;

beforeAll(async () => {
  proxy = await startRegistryProxy(env.config.schemaRegistry.url, [basicAuthorization(USER, PASSWORD), `Bearer ${TOKEN}`]);
  dir = mkdtempSync(path.join(os.tmpdir(), 'kto-registry-auth-'));
});
afterAll(() => proxy?.close());

/** A per-test commands topic, group and dead-letter topic on this file's task queue. */
async function setup(): Promise<KtoConfig> {
  const config = dispatcherConfig(env.config);
  await env.kafka.admin.ensureTopics([{ topic: config.dispatcher.topic, partitions: 1 }]);
  return config;
}

/** Avro commands (registered through the proxy with the right password), each keyed by its idempotency key. */
async function sendAvroCommands(topic: string, keys: string[]): Promise<void> {
  const schemaRegistry = { url: proxy.url, username: USER, password: PASSWORD };
  const records = await Promise.all(
    keys.map(async (key) => ({
      topic,
      key: null,
      value: await encodeAvroCommand({ schemaRegistry, subject: `${topic}-value` }, { command: 'app.send_email_alert', params: { email: 'ops@example.com', subject: key }, idempotencyKey: key }),
      headers: {},
    })),
  );
  await env.kafka.produce(records);
}

/** The environment of a kto process on `config`'s topics and task queue: the registry comes only from `registry`. */
function ktoEnv(config: KtoConfig, registry: Record<string, string>): NodeJS.ProcessEnv {
  const { KTO_SCHEMA_REGISTRY_URL: _, ...rest } = process.env;
  return {
    ...rest,
    KTO_LOG_LEVEL: 'info',
    KTO_TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    KTO_DISPATCHER_TOPIC: config.dispatcher.topic,
    KTO_DISPATCHER_GROUP: config.dispatcher.groupId,
    KTO_DEAD_LETTER_TOPIC: config.dispatcher.deadLetterTopic,
    ...registry,
  };
}

/** Runs the kto CLI from source as its own process; `output()` is everything it wrote to stdout and stderr. */
function startKto(args: string[], processEnv: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, env: processEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    output: () => output,
    exited,
    async stop(): Promise<number | null> {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

function propertiesFile(text: string): string {
  const file = path.join(dir, `client-${Date.now().toString(36)}.properties`);
  writeFileSync(file, text);
  return file;
}

const started = async (keys: string[]) => (await Promise.all(keys.map((k) => countWorkflows(env.client, emailWorkflowId(k))))).every((n) => n === 1);

test("right credentials from the Airflow properties file: `kto dispatcher` decodes and starts every Avro command; the password is in no line it writes", async () => {
  const config = await setup();
  const { topic, groupId } = config.dispatcher;
  const keys = ['a', 'b', 'c'].map((k) => `${topic}-${k}`);
  await sendAvroCommands(topic, keys);
  const file = propertiesFile(`# as the Airflow pipelines had it\nschema.registry.url=${proxy.url}\nbasic.auth.credentials.source=USER_INFO\nbasic.auth.user.info=${USER}:${PASSWORD}\n`);
  const before = proxy.requests.length;
  const dispatcher = startKto(['dispatcher'], ktoEnv(config, { KTO_KAFKA_CONFIG_FILE: file }));
  try {
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 3n, { timeoutMs: 90_000, description: `offset 3 committed on ${topic}; dispatcher output:\n${dispatcher.output()}` });
    expect(await started(keys)).toBe(true);
  } finally {
    await dispatcher.stop();
  }
  const seen = proxy.requests.slice(before);
  expect(seen.length).toBeGreaterThan(0);
  expect(seen.every((r) => r.status === 200 && r.authorization === basicAuthorization(USER, PASSWORD))).toBe(true);
  expect(dispatcher.output()).toContain('workflow started');
  expect(dispatcher.output()).not.toContain(PASSWORD);
}, 150_000);

test('a refused password: a clear error naming the registry and the fix, /healthz 503, nothing committed or dead-lettered, no password in the output; the right one starts every command', async () => {
  const config = await setup();
  const { topic, groupId } = config.dispatcher;
  const keys = ['a', 'b'].map((k) => `${topic}-${k}`);
  await sendAvroCommands(topic, keys);
  const metricsPort = await closedPort();
  // Credentials in the URL: kto moves them into the Authorization header and shows the URL without them.
  const wrongUrl = proxy.url.replace('//', `//${USER}:${WRONG}@`);
  const refused = startKto(['dispatcher'], ktoEnv(config, { KTO_SCHEMA_REGISTRY_URL: wrongUrl, KTO_METRICS_PORT: String(metricsPort) }));
  try {
    await waitFor(() => refused.output().includes('refused kto'), { timeoutMs: 90_000, description: `the refusal logged; output:\n${refused.output()}` });
    const health = await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
        const text = await res.text();
        return res.status === 503 && text.includes('refused') ? text : undefined;
      },
      { description: '/healthz 503 naming the refusal' },
    );
    expect(health).toContain(`the schema registry at ${proxy.url} refused kto's credentials (HTTP 401)`);
    // Several retries later, still nothing committed, dead-lettered or started.
    await waitFor(() => (refused.output().match(/refused kto/g) ?? []).length >= 3, { timeoutMs: 30_000, description: 'three refused attempts' });
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).not.toMatch(/^kto_commands_dead_lettered_total\{[^}]*\} [1-9]/m);
    expect(metrics).toMatch(/^kto_commands_consumed_total [1-9]/m);
    expect(await committedOffset(env.kafka, groupId, topic)).toBeNull();
    expect(await Promise.all(keys.map((k) => countWorkflows(env.client, emailWorkflowId(k))))).toEqual([0, 0]);
  } finally {
    await refused.stop();
  }
  const out = refused.output();
  expect(out).toContain(`the schema registry at ${proxy.url} refused kto's credentials (HTTP 401). Fix: check the user \\"${USER}\\" and its password in basic.auth.user.info (KTO_SCHEMA_REGISTRY_USER_INFO), or in the URL`);
  expect(out).not.toContain(WRONG);
  expect(proxy.requests.some((r) => r.authorization === basicAuthorization(USER, WRONG) && r.status === 401)).toBe(true);

  // The commands waited uncommitted: with the right password every one starts, none was dead-lettered.
  const fixed = startKto(['dispatcher'], ktoEnv(config, { KTO_SCHEMA_REGISTRY_URL: proxy.url, KTO_SCHEMA_REGISTRY_USER_INFO: `${USER}:${PASSWORD}` }));
  try {
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 2n, { timeoutMs: 90_000, description: `offset 2 committed; output:\n${fixed.output()}` });
    expect(await started(keys)).toBe(true);
  } finally {
    await fixed.stop();
  }
  expect(fixed.output()).not.toMatch(/dead.letter/i);
  expect(fixed.output()).not.toContain(PASSWORD);
}, 240_000);

test('a static bearer token (bearer.auth.token) is sent, and the command starts', async () => {
  const config = await setup();
  const { topic, groupId } = config.dispatcher;
  const key = `${topic}-bearer`;
  await sendAvroCommands(topic, [key]);
  const { schemaRegistry } = loadConfig({ KTO_SCHEMA_REGISTRY_URL: proxy.url, KTO_SCHEMA_REGISTRY_BEARER_TOKEN: TOKEN });
  const before = proxy.requests.length;
  const d = startDispatcher({ ...env, config }, { decoder: createCommandDecoder({ schemaRegistry }) });
  try {
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 1n, { timeoutMs: 60_000, description: 'offset 1 committed' });
    expect(await started([key])).toBe(true);
  } finally {
    await d.stop();
  }
  expect(proxy.requests.slice(before).map((r) => r.authorization)).toEqual([`Bearer ${TOKEN}`]);
});

test('`kto command send --avro` with a refused password: exit code 1, what failed and the fix, no password', async () => {
  const config = await setup();
  const send = startKto(
    ['command', 'send', 'app.send_email_alert', '--params', '{"email":"ops@example.com"}', '--avro', '--topic', config.dispatcher.topic],
    ktoEnv(config, { KTO_SCHEMA_REGISTRY_URL: proxy.url, KTO_SCHEMA_REGISTRY_USER_INFO: `${USER}:${WRONG}` }),
  );
  expect(await send.exited).toBe(1);
  expect(send.output().trimEnd().split('\n')).toEqual([
    `kto: the schema registry at ${proxy.url} refused kto's credentials (HTTP 401).`,
    `fix: check the user "${USER}" and its password in basic.auth.user.info (KTO_SCHEMA_REGISTRY_USER_INFO), or in the URL; for Confluent Cloud they are a Schema Registry API key and secret, not the Kafka cluster's`,
  ]);
}, 60_000);
