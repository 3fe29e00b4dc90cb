import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { avroCommandRecord } from '../../src/cli/command';
import { failureText } from '../../src/cli/errors';
import { COMMAND_AVRO_SCHEMA, CommandDecodeError, createCommandDecoder } from '../../src/dispatcher/decode';
import { needsFix } from '../../src/dispatcher/faults';
import { createAvroDecoder } from '../../src/processors/avro';
import { loadConfig, redactConfig } from '../../src/runtime/config';
import { createSchemaRegistry, SchemaRegistryAuthError, type SchemaRegistryConnection } from '../../src/runtime/schema-registry';
import { captureLogs } from '../support/helpers';

/**
 * Registry credentials on the wire, a refusal of them, and where secrets must not show: against a
 * stand-in registry in this process that knows one schema (id 1) and one set of credentials.
 * test/integration/schema-registry-auth.test.ts runs the same against the real registry.
 */

const SECRET = 'Zq8-registry-secret';
const USER = 'svc-kto';
const GOOD_AUTH = new Set([`Basic ${Buffer.from(`${USER}:${SECRET}`).toString('base64')}`, `Bearer ${SECRET}`]);

let server: Server;
let base: string;
const seen: (string | undefined)[] = [];
let status: number | undefined;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    seen.push(req.headers.authorization);
    const answer = status ?? (GOOD_AUTH.has(req.headers.authorization ?? '') ? 200 : 401);
    if (answer !== 200) return void res.writeHead(answer).end(JSON.stringify({ error_code: answer, message: 'Unauthorized' }));
    res.setHeader('content-type', 'application/vnd.schemaregistry.v1+json');
    if (req.url === '/schemas/ids/1') return void res.end(JSON.stringify({ schema: JSON.stringify(COMMAND_AVRO_SCHEMA) }));
    if (req.url === '/subjects') return void res.end('[]');
    res.writeHead(404).end(JSON.stringify({ error_code: 40403, message: 'Schema not found' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => {
  seen.length = 0;
  status = undefined;
});

const basic = { username: USER, password: SECRET };
const connection = (auth: Partial<SchemaRegistryConnection>): SchemaRegistryConnection => ({ url: base, ...auth });

/** A command framed with schema id 1, encoded by the library itself. */
async function frame(): Promise<Buffer> {
  return createSchemaRegistry(connection(basic), 'test').encode(1, { command: 'app.send_email_alert', params: '{"email":"ops@example.com"}', idempotencyKey: null });
}

const rejectionOf = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => new Error('expected a failure'), (err: unknown) => err);

describe('schema registry credentials on the wire', () => {
  it('sends basic credentials, and the command decodes', async () => {
    const value = await frame();
    seen.length = 0;
    await expect(createCommandDecoder({ schemaRegistry: connection(basic) }).decode(value, {})).resolves.toMatchObject({ command: 'app.send_email_alert' });
    expect(seen).toEqual([`Basic ${Buffer.from(`${USER}:${SECRET}`).toString('base64')}`]);
  });

  it('sends a bearer token', async () => {
    const value = await frame();
    seen.length = 0;
    await expect(createCommandDecoder({ schemaRegistry: connection({ bearerToken: SECRET }) }).decode(value, {})).resolves.toMatchObject({ command: 'app.send_email_alert' });
    expect(seen).toEqual([`Bearer ${SECRET}`]);
  });

  it('sends the credentials a URL carried, once loadConfig has moved them out of it', async () => {
    const value = await frame();
    seen.length = 0;
    const config = loadConfig({ KTO_SCHEMA_REGISTRY_URL: base.replace('//', `//${USER}:${SECRET}@`) });
    expect(config.schemaRegistry.url).toBe(base);
    await expect(createCommandDecoder({ schemaRegistry: config.schemaRegistry }).decode(value, {})).resolves.toMatchObject({ command: 'app.send_email_alert' });
    expect(seen[0]).toMatch(/^Basic /);
  });

  it("the batch step's Avro decoder sends them too, also when it asks whether the registry answers", async () => {
    const known = await frame();
    // An id the registry does not know (404) is an unknown schema only if the registry answers a plain request too.
    const unknown = Buffer.from(known);
    unknown.writeInt32BE(2, 1);
    const values = [known, unknown];
    const source = { value: (i: number) => values[i] };
    seen.length = 0;
    const decoder = createAvroDecoder(connection({ bearerToken: SECRET }));
    await decoder.prepare(source as never, 2);
    expect(decoder.decode(source as never, 0)).toMatchObject({ command: 'app.send_email_alert' });
    expect(() => decoder.decode(source as never, 1)).toThrow(/^unknown-schema: schema id 2/);
    expect(seen).toEqual([`Bearer ${SECRET}`, `Bearer ${SECRET}`, `Bearer ${SECRET}`]);
  });
});

describe('credentials the registry refuses', () => {
  it('are a fault that needs a fix for the dispatcher, not a bad message: named registry, fix, no secret', async () => {
    const value = await frame();
    const err = await rejectionOf(createCommandDecoder({ schemaRegistry: connection({ username: USER, password: 'wrong' }) }).decode(value, {}));
    expect(err).toBeInstanceOf(SchemaRegistryAuthError);
    expect(err).not.toBeInstanceOf(CommandDecodeError);
    expect(needsFix(err)).toBe(true);
    expect((err as Error).message).toBe(
      `the schema registry at ${base} refused kto's credentials (HTTP 401). Fix: check the user "${USER}" and its password in basic.auth.user.info (KTO_SCHEMA_REGISTRY_USER_INFO), or in the URL; ` +
        "for Confluent Cloud they are a Schema Registry API key and secret, not the Kafka cluster's",
    );
  });

  it('name the setting to check for a token, for no credentials, and for missing rights (403)', async () => {
    const value = await frame();
    const message = async (auth: Partial<SchemaRegistryConnection>) => ((await rejectionOf(createCommandDecoder({ schemaRegistry: connection(auth) }).decode(value, {}))) as Error).message;
    expect(await message({ bearerToken: 'expired' })).toMatch(/Fix: check the token in bearer\.auth\.token \(KTO_SCHEMA_REGISTRY_BEARER_TOKEN\)/);
    expect(await message({})).toMatch(/Fix: the registry wants credentials: set basic\.auth\.user\.info=<user>:<password> \(KTO_SCHEMA_REGISTRY_USER_INFO\) or bearer\.auth\.token/);
    status = 403;
    expect(await message(basic)).toMatch(/\(HTTP 403\)\. Fix: the credentials are valid but may not read/);
  });

  it("fail the batch step's Avro decoder with the same error", async () => {
    const value = await frame();
    const err = await rejectionOf(createAvroDecoder(connection({ bearerToken: 'expired' })).prepare({ value: () => value } as never, 1));
    expect(err).toBeInstanceOf(SchemaRegistryAuthError);
  });

  it('print through the CLI as what failed and the fix, without the password', async () => {
    const config = loadConfig({ KTO_SCHEMA_REGISTRY_URL: base, KTO_SCHEMA_REGISTRY_USER_INFO: `${USER}:${SECRET}-wrong` });
    const err = await rejectionOf(avroCommandRecord(config, 'kto.commands', { command: 'noop', params: {} }));
    const text = failureText(err, { config });
    expect(text.split('\n')).toEqual([
      `kto: the schema registry at ${base} refused kto's credentials (HTTP 401).`,
      `fix: check the user "${USER}" and its password in basic.auth.user.info (KTO_SCHEMA_REGISTRY_USER_INFO), or in the URL; for Confluent Cloud they are a Schema Registry API key and secret, not the Kafka cluster's`,
      '',
    ]);
    expect(failureText(err, { config, verbose: true })).not.toContain(SECRET);
  });

  it('a secret that reaches a printed message anyway is masked', () => {
    const config = loadConfig({ KTO_SCHEMA_REGISTRY_BEARER_TOKEN: SECRET });
    expect(failureText(new Error(`upstream said: bad token ${SECRET}`), { config })).not.toContain(SECRET);
  });
});

describe('logs', () => {
  it('mask credentials in any URL: in the message, an error, or a field no path names', () => {
    const { logger, text } = captureLogs();
    const url = `https://${USER}:${SECRET}@psrc-1.example.cloud/apis`;
    logger.info(`registry at ${url}`);
    logger.error({ err: Object.assign(new Error(`GET ${url}/schemas/ids/1 failed`), { url: `GET ${url}/schemas/ids/1` }) }, 'decoding failed');
    logger.info({ upstream: { target: url, note: 'mail ops@example.com' } }, 'nested');
    const out = text();
    expect(out).not.toContain(SECRET);
    expect(out).toContain('https://redacted@psrc-1.example.cloud/apis');
    expect(out).toContain('ops@example.com');
    expect(out.trim().split('\n')).toHaveLength(3);
  });

  it('mask the registry password and token of a logged config', () => {
    const { logger, text } = captureLogs();
    const config = loadConfig({ KTO_SCHEMA_REGISTRY_USER_INFO: `${USER}:${SECRET}` });
    logger.info({ config }, 'whole config, unmasked by the caller');
    logger.info({ schemaRegistry: { url: base, bearerToken: SECRET } }, 'a token');
    logger.info({ config: redactConfig(loadConfig({ KTO_SCHEMA_REGISTRY_BEARER_TOKEN: SECRET })) }, 'worker starting');
    expect(text()).toContain(USER);
    expect(text()).not.toContain(SECRET);
  });
});
