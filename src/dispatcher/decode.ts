import { SchemaType, type SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { CommandEnvelope } from '../commands/registry';
import { createSchemaRegistry, registryError, type SchemaRegistryConnection } from '../runtime/schema-registry';

/**
 * Turns the bytes of a command message into `{ command, params }`. Two wire formats arrive on
 * the commands topic: JSON (`{"command": "...", "params": {...}}`), and Avro framed the
 * Confluent way (byte 0, a 4-byte schema id, the Avro body) whose writer schema comes from a
 * Confluent-compatible schema registry — the seed's format, where `params` is itself a JSON
 * string. Error messages describe what is wrong, never the values: params may carry secrets.
 */

/** What the dispatcher needs of a decoder: bytes + headers → command envelope. */
export interface CommandDecoder {
  decode(value: Buffer | null, headers: Record<string, string>): Promise<CommandEnvelope>;
}

export type CommandDecodeReason = 'undecodable' | 'unknown-schema' | 'invalid-envelope';

/**
 * The message can never be decoded as it is: the dispatcher dead-letters it. Any other error
 * thrown by `decode` (e.g. the registry is unreachable) is transient: retry, do not commit.
 */
export class CommandDecodeError extends Error {
  constructor(
    readonly reason: CommandDecodeReason,
    message: string,
  ) {
    super(message);
    this.name = 'CommandDecodeError';
  }
}

/** Header that carries the idempotency key; it wins over the message's own field. */
export const IDEMPOTENCY_KEY_HEADER = 'kto-idempotency-key';

/** Subject `encodeAvroCommand` registers under: TopicNameStrategy for the default commands topic. */
export const DEFAULT_COMMAND_SUBJECT = 'kto.commands-value';

/** The seed's Avro command record, plus an optional idempotency key (null by default, so old writers still resolve). */
export const COMMAND_AVRO_SCHEMA = {
  type: 'record',
  name: 'Command',
  namespace: 'kto',
  fields: [
    { name: 'command', type: 'string' },
    { name: 'params', type: 'string' },
    { name: 'idempotencyKey', type: ['null', 'string'], default: null },
  ],
} as const;

/** Confluent wire format: magic byte 0, then a big-endian 4-byte schema id, then the body. */
const MAGIC_BYTE = 0;
const FRAME_HEADER_BYTES = 5;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Checks the decoded envelope; `format` only names where it came from in messages. */
function toCommand(value: unknown, headers: Record<string, string>, format: string): CommandEnvelope {
  if (!isObject(value)) throw new CommandDecodeError('invalid-envelope', `${format} value must be an object with "command" and "params", got ${kindOf(value)}`);
  const { command, params, idempotencyKey } = value;
  if (typeof command !== 'string' || command.trim() === '') {
    throw new CommandDecodeError('invalid-envelope', `"command" must be a non-empty string, got ${command === '' ? 'an empty string' : kindOf(command)}`);
  }
  let parsed: unknown = params;
  if (typeof params === 'string') {
    try {
      parsed = JSON.parse(params);
    } catch {
      // The parser's message quotes the text, which may hold secrets: say only what is wrong.
      throw new CommandDecodeError('invalid-envelope', `"params" of command "${command}" is a string that is not valid JSON`);
    }
  }
  if (!isObject(parsed)) {
    const what = typeof params === 'string' ? `a JSON string holding ${kindOf(parsed)}` : kindOf(params);
    throw new CommandDecodeError('invalid-envelope', `"params" of command "${command}" must be an object or a JSON string of an object, got ${what}`);
  }
  if (idempotencyKey !== undefined && idempotencyKey !== null && typeof idempotencyKey !== 'string') {
    throw new CommandDecodeError('invalid-envelope', `"idempotencyKey" of command "${command}" must be a string, got ${kindOf(idempotencyKey)}`);
  }
  const key = headerValue(headers, IDEMPOTENCY_KEY_HEADER) || idempotencyKey || undefined;
  return key === undefined ? { command, params: parsed } : { command, params: parsed, idempotencyKey: key };
}

/** Kafka header names are case-sensitive, but producers spell them freely; an exact match wins. */
function headerValue(headers: Record<string, string>, name: string): string | undefined {
  if (headers[name] !== undefined) return headers[name];
  return Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
}

function parseJson(value: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    throw new CommandDecodeError('undecodable', `value (${value.length} bytes) is neither UTF-8 JSON nor Confluent-framed Avro (first byte 0x${value[0].toString(16).padStart(2, '0')})`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CommandDecodeError('undecodable', `value (${value.length} bytes) is neither valid JSON nor Confluent-framed Avro`);
  }
}

const statusOf = (err: unknown): number | undefined =>
  typeof err === 'object' && err !== null && typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : undefined;

/**
 * A decoder for one dispatcher: one registry client, whose cache keeps every writer schema it
 * fetched, so the registry is asked once per schema id.
 */
export function createCommandDecoder(options: { schemaRegistry?: SchemaRegistryConnection }): CommandDecoder {
  const connection = options.schemaRegistry;
  const registry = connection ? createSchemaRegistry(connection, 'kto-dispatcher') : undefined;

  async function decodeAvro(value: Buffer): Promise<unknown> {
    const schemaId = value.readInt32BE(1);
    if (!registry || !connection) {
      throw new CommandDecodeError('unknown-schema', `value is Avro with schema id ${schemaId}, but no schema registry is configured (set KTO_SCHEMA_REGISTRY_URL)`);
    }
    try {
      await registry.getSchema(schemaId);
    } catch (err) {
      // 404 (Confluent's 40403): the id was never issued, or was deleted. Only that is final:
      // the client reports a refused connection as status 400, and refused credentials (401,
      // 403) are a setting away: the dispatcher retries those and holds the offset.
      if (statusOf(err) === 404) {
        throw new CommandDecodeError('unknown-schema', `value is Avro with schema id ${schemaId}, which the schema registry does not know`);
      }
      // Every failure to reach the registry carries a status (a refused connection too); one
      // without comes from reading the schema the registry sent, and an id always names that schema.
      if (statusOf(err) === undefined) {
        throw new CommandDecodeError('unknown-schema', `value is Avro with schema id ${schemaId}, whose schema cannot be read (${(err as Error).message})`);
      }
      throw registryError(err, connection);
    }
    try {
      return await registry.decode(value);
    } catch {
      throw new CommandDecodeError('undecodable', `value does not match Avro schema id ${schemaId} it names (${value.length} bytes)`);
    }
  }

  return {
    async decode(value, headers) {
      if (value === null || value.length === 0) throw new CommandDecodeError('undecodable', 'message has no value (a tombstone or an empty record)');
      // JSON text never starts with a zero byte, so the frame is unambiguous.
      if (value[0] === MAGIC_BYTE) {
        if (value.length <= FRAME_HEADER_BYTES) throw new CommandDecodeError('undecodable', `value starts like Confluent-framed Avro but is only ${value.length} bytes long`);
        return toCommand(await decodeAvro(value), headers, 'Avro');
      }
      return toCommand(parseJson(value), headers, 'JSON');
    },
  };
}

/** Registry clients and command schema ids by registry (URL and credentials) and subject, so repeated encodes register once. */
const encoders = new Map<string, { registry: SchemaRegistry; schemaId: Promise<number> }>();

async function commandSchemaId(registry: SchemaRegistry, subject: string): Promise<number> {
  const schema = { type: SchemaType.AVRO as const, schema: JSON.stringify(COMMAND_AVRO_SCHEMA) };
  try {
    // Looking up first leaves a subject alone whose compatibility someone else configured.
    return await registry.getRegistryIdBySchema(subject, schema);
  } catch (err) {
    // The library reports "not registered under this subject" (a 404) as a bare ConfluentSchemaRegistryError.
    if ((err as Error).name !== 'ConfluentSchemaRegistryError') throw err;
  }
  return (await registry.register(schema, { subject })).id;
}

/**
 * Encodes a command the way the seed's producers do: Confluent-framed Avro with
 * `COMMAND_AVRO_SCHEMA`, registered under `subject` if it is not yet, and `params` as a JSON
 * string. For tests, demos and producers written in TypeScript.
 */
export async function encodeAvroCommand(
  options: { schemaRegistry: SchemaRegistryConnection; subject?: string },
  command: CommandEnvelope,
): Promise<Buffer> {
  const subject = options.subject ?? DEFAULT_COMMAND_SUBJECT;
  const { url, username, password, bearerToken } = options.schemaRegistry;
  const cacheKey = JSON.stringify([url, username, password, bearerToken, subject]);
  let encoder = encoders.get(cacheKey);
  if (!encoder) {
    const registry = createSchemaRegistry(options.schemaRegistry, 'kto');
    const schemaId = commandSchemaId(registry, subject).catch((err: unknown) => {
      throw registryError(err, options.schemaRegistry);
    });
    encoder = { registry, schemaId };
    encoders.set(cacheKey, encoder);
    // A failed registration (registry not up yet) must not stick: the next call tries again.
    schemaId.catch(() => encoders.delete(cacheKey));
  }
  const params = typeof command.params === 'string' ? command.params : JSON.stringify(command.params);
  return encoder.registry.encode(await encoder.schemaId, { command: command.command, params, idempotencyKey: command.idempotencyKey ?? null });
}
