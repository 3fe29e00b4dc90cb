import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { redactUrlsIn } from './config';
import { UserError } from './errors';
import type { SchemaRegistryConnection } from './registry-config';

export type { SchemaRegistryConnection } from './registry-config';

/**
 * One way to reach the schema registry, for every part of kto that does: a client that sends
 * the configured credentials, the same headers for a plain `fetch`, and the error a refusal of
 * those credentials becomes.
 */

type Middlewares = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>;

/** Adds `Authorization: Bearer <token>` to every request (the library only knows basic authentication). */
const bearerAuth =
  (token: string): Middlewares[number] =>
  () => ({
    prepareRequest: (next) => next().then((request) => request.enhance({ headers: { authorization: `Bearer ${token}` } })),
  });

/** A registry client for `connection`, with basic or bearer authentication when it has credentials. */
export function createSchemaRegistry(connection: SchemaRegistryConnection, clientId: string): SchemaRegistry {
  const { url, username, password, bearerToken } = connection;
  return new SchemaRegistry({
    host: url,
    clientId,
    ...(username !== undefined ? { auth: { username, password: password ?? '' } } : {}),
    ...(bearerToken ? { middlewares: [bearerAuth(bearerToken)] } : {}),
  });
}

/** The `Authorization` header of `connection`, for requests made without the client. */
export function registryHeaders(connection: SchemaRegistryConnection): Record<string, string> {
  if (connection.bearerToken) return { authorization: `Bearer ${connection.bearerToken}` };
  if (connection.username === undefined) return {};
  return { authorization: `Basic ${Buffer.from(`${connection.username}:${connection.password ?? ''}`).toString('base64')}` };
}

/** How the user tells kto its registry credentials, for the fix line of a refusal. */
function credentialsFix(connection: SchemaRegistryConnection, status: number): string {
  if (status === 403) {
    return `the credentials are valid but may not read this registry's schemas: grant them read access (write too for kto command send --avro), or use other credentials`;
  }
  if (connection.bearerToken) return 'check the token in bearer.auth.token (KTO_SCHEMA_REGISTRY_BEARER_TOKEN): it may be wrong or expired';
  if (connection.username !== undefined) {
    return `check the user "${connection.username}" and its password in basic.auth.user.info (KTO_SCHEMA_REGISTRY_USER_INFO), or in the URL; for Confluent Cloud they are a Schema Registry API key and secret, not the Kafka cluster's`;
  }
  return 'the registry wants credentials: set basic.auth.user.info=<user>:<password> (KTO_SCHEMA_REGISTRY_USER_INFO) or bearer.auth.token (KTO_SCHEMA_REGISTRY_BEARER_TOKEN)';
}

/**
 * The registry refused kto's credentials (HTTP 401) or their rights (403). Waiting does not heal
 * it; a fixed setting or a restored key does. `status` stays on the error: the dispatcher retries
 * it as a fault that needs a fix instead of reading it as a bad message.
 */
export class SchemaRegistryAuthError extends UserError {
  constructor(
    connection: SchemaRegistryConnection,
    readonly status: number,
  ) {
    // The message names the address (never credentials) and carries its fix, so a log line of it alone says what to do.
    super(`the schema registry at ${redactUrlsIn(connection.url)} refused kto's credentials (HTTP ${status}). Fix: ${credentialsFix(connection, status)}`);
    this.name = 'SchemaRegistryAuthError';
  }
}

const statusOf = (err: unknown): number | undefined =>
  typeof err === 'object' && err !== null && typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : undefined;

/** `err` as a SchemaRegistryAuthError when the registry answered 401 or 403, else `err` itself. */
export function registryError(err: unknown, connection: SchemaRegistryConnection): unknown {
  const status = statusOf(err);
  return status === 401 || status === 403 ? new SchemaRegistryAuthError(connection, status) : err;
}
