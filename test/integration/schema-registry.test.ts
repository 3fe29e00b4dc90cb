import path from 'node:path';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { readPid, stopProcessGroup } from '../../src/devstack/processes';
import { CommandDecodeError, createCommandDecoder, encodeAvroCommand, IDEMPOTENCY_KEY_HEADER } from '../../src/dispatcher/decode';
import { testConfig, uniqueTopic } from '../support/helpers';
import { testStack } from '../support/test-stack';

// Against the stack's real registry (Apicurio Registry's Confluent API), as the dispatcher uses it.
const config = testConfig();
const url = config.schemaRegistry.url;
const schemaRegistry = config.schemaRegistry;
const seedCommand = { command: 'app.send_email_alert', params: { email: 'ops@example.com' } };

async function decodeError(promise: Promise<unknown>): Promise<CommandDecodeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CommandDecodeError);
  return err as CommandDecodeError;
}

describe('Avro commands through the schema registry', () => {
  const subject = `${uniqueTopic('commands')}-value`;

  it('encodes a command with a registered schema and decodes it back', async () => {
    const value = await encodeAvroCommand({ schemaRegistry, subject }, { ...seedCommand, idempotencyKey: 'alert-1' });
    expect(value[0]).toBe(0);
    const schemaId = value.readInt32BE(1);
    const registered = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions/latest`).then((r) => r.json());
    expect(registered).toMatchObject({ subject, version: 1, id: schemaId });

    // A fresh decoder has no schema cached: it has to fetch the writer schema by id.
    const decoded = await createCommandDecoder({ schemaRegistry }).decode(value, {});
    expect(decoded).toEqual({ ...seedCommand, idempotencyKey: 'alert-1' });
  });

  it('registers once: a second encode reuses the schema id', async () => {
    const a = await encodeAvroCommand({ schemaRegistry, subject }, seedCommand);
    const b = await encodeAvroCommand({ schemaRegistry, subject: `${subject}-other` }, seedCommand);
    expect(b.readInt32BE(1)).toBe(a.readInt32BE(1));
    const versions = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`).then((r) => r.json());
    expect(versions).toEqual([1]);
  });

  it("decodes the seed's own record (no idempotency key field) and lets the header set the key", async () => {
    const registry = new SchemaRegistry({ host: url });
    const seedSchema = { type: 'record', name: 'SeedCommand', namespace: 'com.example', fields: [{ name: 'command', type: 'string' }, { name: 'params', type: 'string' }] };
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(seedSchema) }, { subject: `${subject}-seed` });
    const value = await registry.encode(id, { command: seedCommand.command, params: JSON.stringify(seedCommand.params) });
    const decoded = await createCommandDecoder({ schemaRegistry }).decode(value, { [IDEMPOTENCY_KEY_HEADER]: 'from-header' });
    expect(decoded).toEqual({ ...seedCommand, idempotencyKey: 'from-header' });
  });

  it('reports a schema id the registry never issued as unknown-schema', async () => {
    const value = await encodeAvroCommand({ schemaRegistry, subject }, seedCommand);
    const unknown = Buffer.from(value);
    unknown.writeInt32BE(987_654, 1);
    const err = await decodeError(createCommandDecoder({ schemaRegistry }).decode(unknown, {}));
    expect(err.reason).toBe('unknown-schema');
    expect(err.message).toMatch(/schema id 987654/);
  });

  it('reports a registered schema the decoder cannot read as unknown-schema, since no retry changes what an id names', async () => {
    // A long default beyond 2^53: valid Avro for the registry (Java), beyond what JavaScript numbers hold exactly.
    const unreadable = '{"type":"record","name":"Unreadable","namespace":"com.example","fields":[{"name":"n","type":"long","default":9007199254740993}]}';
    const res = await fetch(`${url}/subjects/${encodeURIComponent(`${subject}-unreadable`)}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: unreadable }),
    });
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: number };
    const value = Buffer.alloc(6);
    value.writeInt32BE(id, 1);
    const err = await decodeError(createCommandDecoder({ schemaRegistry }).decode(value, {}));
    expect(err.reason).toBe('unknown-schema');
    expect(err.message).toMatch(new RegExp(`schema id ${id}, whose schema cannot be read`));
  });

  it('reports an Avro body that does not match its schema as undecodable', async () => {
    const value = await encodeAvroCommand({ schemaRegistry, subject }, seedCommand);
    const err = await decodeError(createCommandDecoder({ schemaRegistry }).decode(value.subarray(0, value.length - 4), {}));
    expect(err.reason).toBe('undecodable');
  });

  it('keeps an Avro params string that is not an object out of the envelope, without quoting it', async () => {
    const value = await encodeAvroCommand({ schemaRegistry, subject }, { command: 'c', params: 'password=hunter2' });
    const err = await decodeError(createCommandDecoder({ schemaRegistry }).decode(value, {}));
    expect(err.reason).toBe('invalid-envelope');
    expect(err.message).not.toContain('hunter2');
  });

  it('treats an unreachable registry as transient, not as a bad message', async () => {
    const value = await encodeAvroCommand({ schemaRegistry, subject }, seedCommand);
    const err = await createCommandDecoder({ schemaRegistry: { url: 'http://127.0.0.1:9/apis/ccompat/v7' } }).decode(value, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(CommandDecodeError);
  });

  it('keeps schemas and their ids across a registry killed -9 right after registering them', async () => {
    const fresh = `${subject}-crash`;
    const value = await encodeAvroCommand({ schemaRegistry, subject: fresh }, seedCommand);
    const dir = process.env.KTO_DEVSTACK_DIR!;
    const pid = readPid(path.join(dir, 'run', 'schema-registry.pid'));
    expect(pid).toBeDefined();
    // No grace: SIGKILL at once, before a delayed write could reach the file.
    await stopProcessGroup(pid!, 0);
    // `up` starts what is not running (only the registry) and waits until it answers.
    await testStack(dir, config.devstack.ports).up();
    expect(readPid(path.join(dir, 'run', 'schema-registry.pid'))).not.toBe(pid);

    await expect(createCommandDecoder({ schemaRegistry }).decode(value, {})).resolves.toEqual(seedCommand);
    const subjects = await fetch(`${url}/subjects`).then((r) => r.json());
    expect(subjects).toContain(fresh);
  }, 240_000);
});
