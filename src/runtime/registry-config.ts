import { z } from 'zod';

/**
 * The schema registry's settings: its URL and credentials, from the environment or from the
 * properties file (the keys Confluent's clients read, which the Airflow pipelines' files hold).
 * Credentials leave the URL here, so the URL kto keeps, logs and prints carries none.
 */

/** Properties-file keys kto reads for the registry, and the environment variable that overrides each. */
export const REGISTRY_PROPERTIES = {
  'schema.registry.url': 'KTO_SCHEMA_REGISTRY_URL',
  'basic.auth.credentials.source': 'KTO_SCHEMA_REGISTRY_BASIC_AUTH_SOURCE',
  'basic.auth.user.info': 'KTO_SCHEMA_REGISTRY_USER_INFO',
  'bearer.auth.credentials.source': 'KTO_SCHEMA_REGISTRY_BEARER_AUTH_SOURCE',
  'bearer.auth.token': 'KTO_SCHEMA_REGISTRY_BEARER_TOKEN',
} as const;
type RegistryProperty = keyof typeof REGISTRY_PROPERTIES;

/** Older names Confluent's serializers still accept. */
const REGISTRY_PROPERTY_ALIASES: Record<string, RegistryProperty> = {
  'schema.registry.basic.auth.user.info': 'basic.auth.user.info',
  'schema.registry.basic.auth.credentials.source': 'basic.auth.credentials.source',
};

export const isRegistryProperty = (key: string): boolean => key in REGISTRY_PROPERTIES || key in REGISTRY_PROPERTY_ALIASES;

/** Where each field comes from, for error messages (loadConfig prefixes `schemaRegistry.`). */
export const REGISTRY_SOURCES: Record<string, string> = {
  url: 'KTO_SCHEMA_REGISTRY_URL (schema.registry.url)',
  basicAuthSource: 'KTO_SCHEMA_REGISTRY_BASIC_AUTH_SOURCE (basic.auth.credentials.source)',
  userInfo: 'KTO_SCHEMA_REGISTRY_USER_INFO (basic.auth.user.info)',
  bearerAuthSource: 'KTO_SCHEMA_REGISTRY_BEARER_AUTH_SOURCE (bearer.auth.credentials.source)',
  bearerToken: 'KTO_SCHEMA_REGISTRY_BEARER_TOKEN (bearer.auth.token)',
};

type Settings = Record<string, string | undefined>;

/** The raw registry settings: environment over properties file; `sasl` is Kafka's, for `SASL_INHERIT`. */
export function registrySettings(env: Settings, fileProps: Settings, sasl: { username?: string; password?: string }, defaultUrl: string) {
  const props: Settings = { ...fileProps };
  for (const [alias, prop] of Object.entries(REGISTRY_PROPERTY_ALIASES)) props[prop] ??= props[alias];
  const value = (prop: RegistryProperty) => env[REGISTRY_PROPERTIES[prop]] ?? props[prop];
  return {
    url: value('schema.registry.url') ?? defaultUrl,
    basicAuthSource: value('basic.auth.credentials.source')?.toUpperCase(),
    userInfo: value('basic.auth.user.info') || undefined,
    bearerAuthSource: value('bearer.auth.credentials.source')?.toUpperCase(),
    bearerToken: value('bearer.auth.token') || undefined,
    saslUsername: sasl.username,
    saslPassword: sasl.password,
  };
}

/** Where kto reaches the registry, and as whom. The URL carries no credentials. */
export interface SchemaRegistryConnection {
  url: string;
  /** Basic authentication (a Confluent Cloud API key and secret, say). */
  username?: string;
  password?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  bearerToken?: string;
}

const urlError =
  'must be the http(s) base URL of a Confluent-compatible schema registry, e.g. http://127.0.0.1:8081/apis/ccompat/v7 (Apicurio) or https://psrc-xxxxx.confluent.cloud';
const BASIC_SOURCES = ['USER_INFO', 'URL', 'SASL_INHERIT'] as const;

/** `user:password` split at the first colon; a password may hold colons, a user name may not. */
function splitUserInfo(userInfo: string): { username: string; password: string } {
  const colon = userInfo.indexOf(':');
  return { username: userInfo.slice(0, colon), password: userInfo.slice(colon + 1) };
}

function urlCredentials(url: string): { username: string; password: string } | undefined {
  // An invalid URL has its own issue; refinements still run.
  if (!URL.canParse(url)) return undefined;
  const u = new URL(url);
  return u.username || u.password ? { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } : undefined;
}

/** The URL as written, minus `user:password@` (WHATWG takes the last `@` before the path as the end of the credentials). */
const withoutCredentials = (url: string): string => url.replace(/^(https?:\/\/)[^/?#]*@/i, '$1');

type Raw = z.infer<typeof rawSchema>;

const rawSchema = z.object({
  url: z.url({ protocol: /^https?$/, error: urlError }),
  basicAuthSource: z.enum(BASIC_SOURCES, { error: 'must be USER_INFO (basic.auth.user.info), URL (credentials in the URL) or SASL_INHERIT (sasl.username and sasl.password)' }).optional(),
  // Never echo the value: it is a secret.
  userInfo: z.string().regex(/^[^:]+:/, 'must be <user>:<password>, e.g. an API key and its secret joined by a colon').optional(),
  bearerAuthSource: z.enum(['STATIC_TOKEN'], { error: 'must be STATIC_TOKEN (the token in bearer.auth.token); kto fetches no OAuth tokens itself' }).optional(),
  bearerToken: z.string().optional(),
  saslUsername: z.string().optional(),
  saslPassword: z.string().optional(),
});

/** The basic credentials the settings choose: the named source, else the one that is set. */
function basicCredentials(raw: Raw): { username: string; password: string } | undefined {
  switch (raw.basicAuthSource) {
    case 'USER_INFO':
      return raw.userInfo ? splitUserInfo(raw.userInfo) : undefined;
    case 'URL':
      return urlCredentials(raw.url);
    case 'SASL_INHERIT':
      return raw.saslUsername && raw.saslPassword ? { username: raw.saslUsername, password: raw.saslPassword } : undefined;
    default:
      return raw.userInfo ? splitUserInfo(raw.userInfo) : urlCredentials(raw.url);
  }
}

const MISSING: Record<(typeof BASIC_SOURCES)[number], [keyof Raw, string]> = {
  USER_INFO: ['userInfo', 'basic.auth.credentials.source=USER_INFO needs basic.auth.user.info=<user>:<password> (or KTO_SCHEMA_REGISTRY_USER_INFO)'],
  URL: ['url', 'basic.auth.credentials.source=URL needs the credentials in the URL: https://<user>:<password>@host'],
  SASL_INHERIT: ['basicAuthSource', 'basic.auth.credentials.source=SASL_INHERIT needs sasl.username and sasl.password'],
};

export const schemaRegistrySchema = rawSchema
  .superRefine((raw, ctx) => {
    if (raw.basicAuthSource && !basicCredentials(raw)) {
      const [field, message] = MISSING[raw.basicAuthSource];
      ctx.addIssue({ code: 'custom', path: [field], message });
    }
    if (!raw.basicAuthSource && raw.userInfo && urlCredentials(raw.url)) {
      ctx.addIssue({ code: 'custom', path: ['userInfo'], message: 'the URL carries credentials too: keep one of them, or name the one to use in basic.auth.credentials.source' });
    }
    if (raw.bearerAuthSource && !raw.bearerToken) {
      ctx.addIssue({ code: 'custom', path: ['bearerToken'], message: 'bearer.auth.credentials.source=STATIC_TOKEN needs bearer.auth.token (or KTO_SCHEMA_REGISTRY_BEARER_TOKEN)' });
    }
    if (raw.bearerToken && basicCredentials(raw)) {
      ctx.addIssue({ code: 'custom', path: ['bearerToken'], message: 'basic credentials are set too: a registry takes one kind, so set a token or basic credentials, not both' });
    }
  })
  .transform((raw): SchemaRegistryConnection => {
    const basic = basicCredentials(raw);
    return { url: withoutCredentials(raw.url), ...basic, ...(raw.bearerToken ? { bearerToken: raw.bearerToken } : {}) };
  });
