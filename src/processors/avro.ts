import { redactUrl } from '../runtime/config';
import { createSchemaRegistry, registryError, registryHeaders, type SchemaRegistryConnection } from '../runtime/schema-registry';
import { RecordError } from './define';
import type { Decoder, RecordSource } from './engine';

/**
 * `decode: 'avro'` for the batch step: Confluent-framed Avro values (magic byte 0, a 4-byte
 * schema id, the Avro binary), decoded with the writer's schema from the registry. The engine
 * decodes synchronously, so the step first fetches the schemas a chunk names (`prepare`), then
 * decodes its records with them.
 */

interface AvroType {
  fromBuffer(buffer: Buffer): unknown;
}

export interface AvroDecoder {
  /** Fetches the schema of every id in `source` not seen before. @throws Error when the registry does not answer. */
  prepare(source: RecordSource, length: number): Promise<void>;
  decode: Decoder;
}

const MAGIC = 0;
const HEADER = 5;

const schemaIdOf = (value: Buffer | null): number | undefined => (value && value.length >= HEADER && value[0] === MAGIC ? value.readInt32BE(1) : undefined);

/** A decoder backed by the registry of `connection`; schemas are kept for the life of the decoder (one step). */
export function createAvroDecoder(connection: SchemaRegistryConnection): AvroDecoder {
  const { url } = connection;
  const registry = createSchemaRegistry(connection, 'kto-batch');
  // null: the registry does not know the id, or it is not an Avro schema.
  const types = new Map<number, AvroType | null>();
  let answering: Promise<boolean> | undefined;
  const answers = () => (answering ??= fetch(`${url.replace(/\/$/, '')}/subjects`, { headers: registryHeaders(connection) }).then((r) => r.ok, () => false));

  async function schemaOf(id: number): Promise<AvroType | null> {
    try {
      const schema = await registry.getSchema(id);
      return 'fromBuffer' in schema ? (schema as AvroType) : null;
    } catch (err) {
      // A 404 is an unknown id only if the registry answers at all: one of a wrong URL must fail the step, not reject every record.
      if ((err as { status?: number }).status === 404 && (await answers())) return null;
      const refused = registryError(err, connection);
      if (refused !== err) throw refused;
      throw new Error(`the schema registry at ${redactUrl(url)} did not give schema id ${id} (${(err as Error).message}); check KTO_SCHEMA_REGISTRY_URL`);
    }
  }

  return {
    async prepare(source, length) {
      const missing = new Set<number>();
      for (let i = 0; i < length; i++) {
        const id = schemaIdOf(source.value(i));
        if (id !== undefined && !types.has(id)) missing.add(id);
      }
      for (const id of missing) types.set(id, await schemaOf(id));
    },
    decode(source, i) {
      const value = source.value(i);
      if (value === null) throw new RecordError('tombstone: message value is null');
      const id = schemaIdOf(value);
      if (id === undefined) throw new RecordError('invalid-avro: not in the Confluent wire format (magic byte 0, then a 4-byte schema id)');
      const type = types.get(id);
      if (!type) throw new RecordError(`unknown-schema: schema id ${id} is not an Avro schema of the registry`);
      try {
        return type.fromBuffer(value.subarray(HEADER));
      } catch (err) {
        throw new RecordError(`invalid-avro: ${(err as Error).message}`);
      }
    },
  };
}
