import { CommandDecodeError, createCommandDecoder, IDEMPOTENCY_KEY_HEADER, type CommandDecodeReason } from '../../src/dispatcher/decode';

// The Avro path needs a real registry: test/integration/schema-registry.test.ts covers it.
const decoder = createCommandDecoder({});
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const SECRET = 's3cr3t-p4ss';

async function decodeError(value: Buffer | null, headers: Record<string, string> = {}): Promise<CommandDecodeError> {
  const err = await decoder.decode(value, headers).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CommandDecodeError);
  return err as CommandDecodeError;
}

async function expectReason(value: Buffer | null, reason: CommandDecodeReason): Promise<string> {
  const err = await decodeError(value);
  expect(err.reason).toBe(reason);
  return err.message;
}

describe('JSON commands', () => {
  it('takes params as an object', async () => {
    await expect(decoder.decode(json({ command: 'app.send_email_alert', params: { email: 'a@example.com' } }), {})).resolves.toEqual({
      command: 'app.send_email_alert',
      params: { email: 'a@example.com' },
    });
  });

  it("takes params as a JSON string of an object, like the seed's producers", async () => {
    const value = json({ command: 'app.send_email_alert', params: JSON.stringify({ email: 'a@example.com' }) });
    await expect(decoder.decode(value, {})).resolves.toEqual({ command: 'app.send_email_alert', params: { email: 'a@example.com' } });
  });

  it('keeps fields it does not know out of the way', async () => {
    const decoded = await decoder.decode(json({ command: 'c', params: {}, sentBy: 'airflow' }), {});
    expect(decoded).toEqual({ command: 'c', params: {} });
  });
});

describe('idempotency key', () => {
  it('comes from the field when there is no header', async () => {
    await expect(decoder.decode(json({ command: 'c', params: {}, idempotencyKey: 'field-1' }), {})).resolves.toMatchObject({ idempotencyKey: 'field-1' });
  });

  it('comes from the header when both are set', async () => {
    const decoded = await decoder.decode(json({ command: 'c', params: {}, idempotencyKey: 'field-1' }), { [IDEMPOTENCY_KEY_HEADER]: 'header-1' });
    expect(decoded.idempotencyKey).toBe('header-1');
  });

  it('reads the header whatever its case', async () => {
    const decoded = await decoder.decode(json({ command: 'c', params: {} }), { 'KTO-Idempotency-Key': 'header-2' });
    expect(decoded.idempotencyKey).toBe('header-2');
  });

  it('is absent when neither is set (null and empty count as unset)', async () => {
    expect(await decoder.decode(json({ command: 'c', params: {} }), { other: 'x' })).not.toHaveProperty('idempotencyKey');
    expect(await decoder.decode(json({ command: 'c', params: {}, idempotencyKey: null }), { [IDEMPOTENCY_KEY_HEADER]: '' })).not.toHaveProperty('idempotencyKey');
  });

  it('must be a string in the message', async () => {
    expect(await expectReason(json({ command: 'c', params: {}, idempotencyKey: 42 }), 'invalid-envelope')).toMatch(/idempotencyKey.*string.*number/);
  });
});

describe('undecodable bytes', () => {
  it('rejects a null value (tombstone) and an empty one', async () => {
    expect(await expectReason(null, 'undecodable')).toMatch(/no value/);
    expect(await expectReason(Buffer.alloc(0), 'undecodable')).toMatch(/no value/);
  });

  it('rejects bytes that are not JSON, without quoting them', async () => {
    const message = await expectReason(Buffer.from(`{"command": "c", "params": {"password": "${SECRET}"`), 'undecodable');
    expect(message).toMatch(/neither valid JSON nor Confluent-framed Avro/);
    expect(message).not.toContain(SECRET);
  });

  it('rejects bytes that are not UTF-8', async () => {
    expect(await expectReason(Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), 'undecodable')).toMatch(/0xff/);
  });

  it('rejects a Confluent frame too short to hold a schema id', async () => {
    expect(await expectReason(Buffer.from([0, 0, 0]), 'undecodable')).toMatch(/only 3 bytes/);
  });
});

describe('invalid envelopes', () => {
  it.each([
    ['an array', [1, 2], /got an array/],
    ['a number', 42, /got a number/],
    ['a string', 'app.send_email_alert', /got a string/],
    ['null', null, /got null/],
  ])('rejects JSON that is %s', async (_what, value, message) => {
    expect(await expectReason(json(value), 'invalid-envelope')).toMatch(message);
  });

  it('needs a non-empty string command', async () => {
    expect(await expectReason(json({ params: {} }), 'invalid-envelope')).toMatch(/"command" must be a non-empty string, got nothing/);
    expect(await expectReason(json({ command: '', params: {} }), 'invalid-envelope')).toMatch(/got an empty string/);
    expect(await expectReason(json({ command: 7, params: {} }), 'invalid-envelope')).toMatch(/got a number/);
  });

  it('rejects a params string that is not JSON, without quoting it', async () => {
    const message = await expectReason(json({ command: 'app.send_email_alert', params: `password=${SECRET}` }), 'invalid-envelope');
    expect(message).toBe('"params" of command "app.send_email_alert" is a string that is not valid JSON');
  });

  it('rejects params that are not an object, directly or inside the JSON string', async () => {
    expect(await expectReason(json({ command: 'c', params: [SECRET] }), 'invalid-envelope')).toMatch(/got an array$/);
    expect(await expectReason(json({ command: 'c', params: SECRET }), 'invalid-envelope')).toMatch(/not valid JSON/);
    expect(await expectReason(json({ command: 'c', params: JSON.stringify(SECRET) }), 'invalid-envelope')).toMatch(/a JSON string holding a string$/);
    expect(await expectReason(json({ command: 'c' }), 'invalid-envelope')).toMatch(/got nothing$/);
    expect(await expectReason(json({ command: 'c', params: null }), 'invalid-envelope')).toMatch(/got null$/);
  });

  it('never puts param values into messages', async () => {
    const values = [{ command: 'c', params: [SECRET] }, { command: 'c', params: SECRET }, { command: 'c', params: JSON.stringify([SECRET]) }];
    for (const value of values) expect((await decodeError(json(value))).message).not.toContain(SECRET);
  });
});

describe('Avro without a registry', () => {
  it('reports the schema id as unknown and says how to configure one', async () => {
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), Buffer.from('avro body')]);
    const err = await decodeError(framed);
    expect(err.reason).toBe('unknown-schema');
    expect(err.message).toMatch(/schema id 7.*KTO_SCHEMA_REGISTRY_URL/);
  });
});
