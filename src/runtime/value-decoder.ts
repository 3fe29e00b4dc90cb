import { createSchemaRegistry, registryError, type SchemaRegistryConnection } from './schema-registry';

/**
 * Turns record bytes into something a person can read, for operators' tools (`kto topics tail`,
 * `kto dlq show`): JSON, Confluent-framed Avro decoded with the writer's schema from the
 * registry, else UTF-8 text, else base64. A value that cannot be decoded is shown, not refused.
 */
export type DecodedValue =
  | { format: 'null'; value: null }
  | { format: 'json'; value: unknown }
  | { format: 'avro'; schemaId: number; value: unknown }
  | { format: 'text'; value: string }
  /** `error`: why a framed Avro value is shown as bytes (the registry does not know its schema, or did not answer). */
  | { format: 'base64'; value: string; error?: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

const statusOf = (err: unknown): number | undefined =>
  typeof err === 'object' && err !== null && typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : undefined;

function asText(value: Buffer): DecodedValue {
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    return { format: 'base64', value: value.toString('base64') };
  }
  try {
    return { format: 'json', value: JSON.parse(text) };
  } catch {
    return { format: 'text', value: text };
  }
}

export interface ValueDecoder {
  decode(value: Buffer | null): Promise<DecodedValue>;
}

/** A decoder with one registry client (when `schemaRegistry` is given), whose cache keeps every schema it fetched. */
export function createValueDecoder(schemaRegistry?: SchemaRegistryConnection): ValueDecoder {
  const registry = schemaRegistry ? createSchemaRegistry(schemaRegistry, 'kto-cli') : undefined;
  return {
    async decode(value) {
      if (value === null) return { format: 'null', value: null };
      // JSON text never starts with a zero byte, so the Confluent frame is unambiguous.
      if (value.length <= 5 || value[0] !== 0) return asText(value);
      const schemaId = value.readInt32BE(1);
      const bytes = value.toString('base64');
      if (!registry || !schemaRegistry) return { format: 'base64', value: bytes, error: `Avro with schema id ${schemaId}, and no schema registry is configured` };
      try {
        return { format: 'avro', schemaId, value: await registry.decode(value) };
      } catch (err) {
        // Refused credentials are a setting to fix, not a property of the record: say so once, loudly.
        const status = statusOf(err);
        if (status === 401 || status === 403) throw registryError(err, schemaRegistry);
        return { format: 'base64', value: bytes, error: `Avro with schema id ${schemaId}, not decoded: ${(err as Error).message}` };
      }
    },
  };
}

/** JSON text of a decoded value: Avro longs (bigint) as strings, Avro bytes (Buffer) as base64. */
export function toJsonText(value: unknown, space?: number): string {
  return JSON.stringify(
    value,
    function replacer(this: Record<string, unknown>, key: string, v: unknown) {
      const original = this[key];
      if (Buffer.isBuffer(original)) return original.toString('base64');
      return typeof v === 'bigint' ? v.toString() : v;
    },
    space,
  );
}
