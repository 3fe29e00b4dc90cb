import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { KAFKA_VERSION, KAFKA_VERSION_HINT, SUPPORTED_KAFKA_VERSION } from '../devstack/kafka-version';
import { isRegistryProperty, REGISTRY_SOURCES, registrySettings, schemaRegistrySchema } from './registry-config';
import { redactUrl, redactUrlsIn } from '../shared/redact-url';

/**
 * All of kto's configuration, parsed once from environment variables and an optional
 * librdkafka-style properties file (the format of the Airflow pipelines kto replaces).
 * Defaults point at the local stack that `kto dev up` starts.
 */
export type KtoConfig = z.infer<typeof configSchema>;
export type KafkaConfig = KtoConfig['kafka'];
export type TemporalConfig = KtoConfig['temporal'];
export type SmtpConfig = KtoConfig['smtp'];
export type DevStackConfig = KtoConfig['devstack'];
export type SchemaRegistryConfig = KtoConfig['schemaRegistry'];

export class ConfigError extends Error {
  /** Each problem names its variable (or properties-file key); this says where they are set and listed. */
  readonly fix = 'change each setting named above, in the environment or in KTO_KAFKA_CONFIG_FILE; README "Configuration" lists every one';

  constructor(readonly problems: string[]) {
    super(`Invalid kto configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** librdkafka keys kto understands; any other key in a properties file is reported as ignored. */
const KAFKA_PROPERTIES = {
  'bootstrap.servers': 'KTO_KAFKA_BROKERS',
  'client.id': 'KTO_KAFKA_CLIENT_ID',
  'security.protocol': 'KTO_KAFKA_SECURITY_PROTOCOL',
  'sasl.mechanisms': 'KTO_KAFKA_SASL_MECHANISM',
  'sasl.username': 'KTO_KAFKA_SASL_USERNAME',
  'sasl.password': 'KTO_KAFKA_SASL_PASSWORD',
  'ssl.ca.location': 'KTO_KAFKA_SSL_CA_LOCATION',
} as const;
type KafkaProperty = keyof typeof KAFKA_PROPERTIES;
/** librdkafka accepts these alternative names; reading them as ignored would silently fall back to defaults. */
const KAFKA_PROPERTY_ALIASES: Record<string, KafkaProperty> = {
  'sasl.mechanism': 'sasl.mechanisms',
  'metadata.broker.list': 'bootstrap.servers',
};

export const REDACTED = '[redacted]';

const portError = 'must be a port number from 1 to 65535, e.g. 1025';
const metricsPortError = 'must be a port number, or 0 to turn /metrics off';
const metricsHostError = 'must be an IP address or host name to serve /metrics on: 127.0.0.1 (this machine only, the default) or 0.0.0.0 (every interface, e.g. in a container scraped by Prometheus)';
const positiveError = 'must be a whole number of at least 1';
const stepThreadsError = 'must be a whole number from 0 to 256 (0 runs the batch steps on the main thread)';
const stepHeapError = 'must be a whole number of MiB, at least 32';
const lagRefreshError = 'must be a whole number of seconds, or 0 to stop refreshing the lag gauge';
const port = z.coerce.number({ error: portError }).int(portError).min(1, portError).max(65535, portError);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const configSchema = z
  .object({
    kafka: z.object({
      brokers: z
        .string()
        .transform((s) => s.split(',').map((b) => b.trim()).filter(Boolean))
        .pipe(z.array(z.string().regex(/^[^\s:]+:\d+$/, 'each broker must be host:port, e.g. localhost:9092 (comma-separate several)')).min(1)),
      clientId: z.string().min(1),
      securityProtocol: z.enum(['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']),
      saslMechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']),
      saslUsername: z.string().optional(),
      saslPassword: z.string().optional(),
      sslCaLocation: z.string().optional(),
      ignoredProperties: z.array(z.string()),
    }),
    temporal: z.object({
      address: z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port'),
      namespace: z.string().min(1),
      taskQueue: z.string().min(1),
      tlsCertPath: z.string().optional(),
      tlsKeyPath: z.string().optional(),
      tlsCaPath: z.string().optional(),
      apiKey: z.string().optional(),
    }),
    smtp: z.object({
      host: z.string().min(1),
      port,
      secure: bool,
      user: z.string().optional(),
      password: z.string().optional(),
      from: z.string().min(3),
    }),
    devstack: z.object({
      dir: z.string().min(1),
      cacheDir: z.string().min(1),
      ports: z.object({
        temporal: port,
        temporalUi: port,
        kafka: port,
        kafkaController: port,
        kafkaSasl: port,
        smtp: port,
        smtpControl: port,
        schemaRegistry: port,
      }),
      kafkaVersion: z.string().regex(SUPPORTED_KAFKA_VERSION, `must be ${KAFKA_VERSION_HINT}`),
      kafkaSasl: bool.optional(),
    }),
    schemaRegistry: schemaRegistrySchema,
    stagingDir: z.string().min(1),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    metricsPort: z.coerce.number({ error: metricsPortError }).int(metricsPortError).min(0, metricsPortError).max(65535, metricsPortError),
    metricsHost: z.union([z.ipv4(), z.ipv6(), z.hostname()], { error: metricsHostError }),
    /** Seconds between reads of the project's consumer-group lag for the worker's lag gauge; 0 turns it off. */
    lagRefreshSeconds: z.coerce.number({ error: lagRefreshError }).int(lagRefreshError).min(0, lagRefreshError),
    stepThreads: z.coerce.number({ error: stepThreadsError }).int(stepThreadsError).min(0, stepThreadsError).max(256, stepThreadsError),
    stepHeapMb: z.coerce.number({ error: stepHeapError }).int(stepHeapError).min(32, stepHeapError),
    dispatcher: z.object({
      topic: z.string().min(1),
      groupId: z.string().min(1),
      deadLetterTopic: z.string().min(1),
      maxInFlight: z.coerce.number({ error: positiveError }).int(positiveError).min(1, positiveError).max(10_000, positiveError),
      ordered: bool,
      maxBytes: z.coerce.number({ error: positiveError }).int(positiveError).min(1, positiveError),
    }),
    topicPrefix: z.string().regex(/^[a-z0-9]+(?:[.-][a-z0-9]+)*$/, 'must be a reverse-DNS name of lowercase letters, digits, dots and dashes, e.g. com.example'),
    alertOperatorEmail: z.email({ error: 'must be an email address, e.g. ops@example.com (or unset it for no failure alerts)' }).optional(),
    /** Who gets the alert of a failed batch run whose pipeline names no `onFailure.email`. */
    alertEmail: z.string().transform((value, ctx) => {
      const list = value.split(',').map((a) => a.trim()).filter(Boolean);
      const bad = list.find((a) => !z.email().safeParse(a).success);
      if (bad === undefined) return list;
      ctx.addIssue({ code: 'custom', message: `"${bad}" is not an email address: list addresses separated by commas, e.g. ops@example.com,oncall@example.com (or unset it for no default alert recipients)` });
      return z.NEVER;
    }),
  })
  .superRefine((c, ctx) => {
    const k = c.kafka;
    if (k.securityProtocol.startsWith('SASL_') && (!k.saslUsername || !k.saslPassword)) {
      ctx.addIssue({
        code: 'custom',
        path: ['kafka', 'saslUsername'],
        message: `security.protocol=${k.securityProtocol} needs sasl.username and sasl.password (or KTO_KAFKA_SASL_USERNAME / KTO_KAFKA_SASL_PASSWORD)`,
      });
    }
    if (Boolean(c.temporal.tlsCertPath) !== Boolean(c.temporal.tlsKeyPath)) {
      ctx.addIssue({
        code: 'custom',
        path: ['temporal', 'tlsCertPath'],
        message: 'KTO_TEMPORAL_TLS_CERT and KTO_TEMPORAL_TLS_KEY go together: set both for mTLS, or neither',
      });
    }
  });

/** Where each schema field comes from, so errors name the key a user actually sets. */
const SOURCES: Record<string, string> = {
  'kafka.brokers': 'KTO_KAFKA_BROKERS (bootstrap.servers)',
  'kafka.clientId': 'KTO_KAFKA_CLIENT_ID (client.id)',
  'kafka.securityProtocol': 'KTO_KAFKA_SECURITY_PROTOCOL (security.protocol)',
  'kafka.saslMechanism': 'KTO_KAFKA_SASL_MECHANISM (sasl.mechanisms)',
  'kafka.saslUsername': 'KTO_KAFKA_SASL_USERNAME (sasl.username)',
  'kafka.sslCaLocation': 'KTO_KAFKA_SSL_CA_LOCATION (ssl.ca.location)',
  'temporal.address': 'KTO_TEMPORAL_ADDRESS',
  'temporal.namespace': 'KTO_TEMPORAL_NAMESPACE',
  'temporal.taskQueue': 'KTO_TEMPORAL_TASK_QUEUE',
  'temporal.tlsCertPath': 'KTO_TEMPORAL_TLS_CERT',
  'smtp.host': 'KTO_SMTP_HOST',
  'smtp.port': 'KTO_SMTP_PORT',
  'smtp.secure': 'KTO_SMTP_SECURE',
  'smtp.from': 'KTO_SMTP_FROM',
  'devstack.ports.temporal': 'KTO_DEV_TEMPORAL_PORT',
  'devstack.ports.temporalUi': 'KTO_DEV_TEMPORAL_UI_PORT',
  'devstack.ports.kafka': 'KTO_DEV_KAFKA_PORT',
  'devstack.ports.kafkaController': 'KTO_DEV_KAFKA_CONTROLLER_PORT',
  'devstack.ports.kafkaSasl': 'KTO_DEV_KAFKA_SASL_PORT',
  'devstack.ports.smtp': 'KTO_DEV_SMTP_PORT',
  'devstack.ports.smtpControl': 'KTO_DEV_SMTP_CONTROL_PORT',
  'devstack.ports.schemaRegistry': 'KTO_DEV_SCHEMA_REGISTRY_PORT',
  'devstack.kafkaVersion': 'KTO_DEV_KAFKA_VERSION',
  'devstack.kafkaSasl': 'KTO_DEV_KAFKA_SASL',
  ...Object.fromEntries(Object.entries(REGISTRY_SOURCES).map(([field, source]) => [`schemaRegistry.${field}`, source])),
  stagingDir: 'KTO_STAGING_DIR',
  logLevel: 'KTO_LOG_LEVEL',
  metricsPort: 'KTO_METRICS_PORT',
  metricsHost: 'KTO_METRICS_HOST',
  lagRefreshSeconds: 'KTO_LAG_REFRESH_SECONDS',
  stepThreads: 'KTO_STEP_THREADS',
  stepHeapMb: 'KTO_STEP_HEAP_MB',
  'dispatcher.topic': 'KTO_DISPATCHER_TOPIC',
  'dispatcher.groupId': 'KTO_DISPATCHER_GROUP',
  'dispatcher.deadLetterTopic': 'KTO_DEAD_LETTER_TOPIC',
  'dispatcher.maxInFlight': 'KTO_DISPATCHER_MAX_IN_FLIGHT',
  'dispatcher.ordered': 'KTO_DISPATCHER_ORDERED',
  'dispatcher.maxBytes': 'KTO_DISPATCHER_MAX_BYTES',
  alertOperatorEmail: 'KTO_ALERT_OPERATOR_EMAIL',
  alertEmail: 'KTO_ALERT_EMAIL',
  topicPrefix: 'KTO_TOPIC_PREFIX',
};

/** The environment variables kto reads, for docs and for the docker-compose check. */
export const ENV_KEYS = [
  ...new Set(Object.values(SOURCES).map((s) => s.split(' ')[0])),
  'KTO_KAFKA_CONFIG_FILE',
  'KTO_KAFKA_SASL_PASSWORD',
  'KTO_TEMPORAL_TLS_KEY',
  'KTO_TEMPORAL_TLS_CA',
  'KTO_TEMPORAL_API_KEY',
  'KTO_SMTP_USER',
  'KTO_SMTP_PASSWORD',
  'KTO_DEVSTACK_DIR',
  'KTO_DEVSTACK_CACHE_DIR',
  'KTO_PIPELINES_FILE',
  'KTO_CONFIG',
].sort();

/**
 * Parses a librdkafka properties file: `key=value` lines, `#` comments, blank lines.
 * Throws ConfigError naming the file and line of anything that is not a property.
 */
export function parseProperties(text: string, source = 'properties'): Record<string, string> {
  const props: Record<string, string> = {};
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      problems.push(`${source}:${i + 1}: expected key=value, got "${line.slice(0, 40)}". Fix: write it as key=value or comment it out with #`);
      return;
    }
    props[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  });
  if (problems.length) throw new ConfigError(problems);
  return props;
}

type Env = Record<string, string | undefined>;

function kafkaSettings(env: Env): Record<KafkaProperty, string | undefined> & { ignored: string[]; fileProps: Record<string, string> } {
  let fileProps: Record<string, string> = {};
  const file = env.KTO_KAFKA_CONFIG_FILE;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError([
        `KTO_KAFKA_CONFIG_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err}). Fix: point it at a readable librdkafka properties file`,
      ]);
    }
    fileProps = parseProperties(text, file);
    for (const [alias, prop] of Object.entries(KAFKA_PROPERTY_ALIASES)) {
      if (alias in fileProps) {
        fileProps[prop] ??= fileProps[alias];
        delete fileProps[alias];
      }
    }
  }
  const out = { ignored: Object.keys(fileProps).filter((k) => !(k in KAFKA_PROPERTIES) && !isRegistryProperty(k)), fileProps } as Record<KafkaProperty, string | undefined> & {
    ignored: string[];
    fileProps: Record<string, string>;
  };
  for (const [prop, envKey] of Object.entries(KAFKA_PROPERTIES) as [KafkaProperty, string][]) {
    out[prop] = env[envKey] ?? fileProps[prop];
  }
  return out;
}

/** Fills every default in one place; environment values win over the properties file. */
function withDefaults(env: Env) {
  const devPorts = {
    temporal: env.KTO_DEV_TEMPORAL_PORT ?? '7233',
    temporalUi: env.KTO_DEV_TEMPORAL_UI_PORT ?? '8233',
    kafka: env.KTO_DEV_KAFKA_PORT ?? '9092',
    kafkaController: env.KTO_DEV_KAFKA_CONTROLLER_PORT ?? '9093',
    // Past node 3's ports (9092-9097), so a three-broker stack keeps the defaults apart.
    kafkaSasl: env.KTO_DEV_KAFKA_SASL_PORT ?? '9192',
    smtp: env.KTO_DEV_SMTP_PORT ?? '1025',
    smtpControl: env.KTO_DEV_SMTP_CONTROL_PORT ?? '1080',
    schemaRegistry: env.KTO_DEV_SCHEMA_REGISTRY_PORT ?? '8081',
  };
  const k = kafkaSettings(env);
  return {
    kafka: {
      brokers: k['bootstrap.servers'] ?? `127.0.0.1:${devPorts.kafka}`,
      clientId: k['client.id'] ?? 'kto',
      securityProtocol: (k['security.protocol'] ?? 'PLAINTEXT').toUpperCase(),
      saslMechanism: (k['sasl.mechanisms'] ?? 'PLAIN').toUpperCase(),
      saslUsername: k['sasl.username'],
      saslPassword: k['sasl.password'],
      sslCaLocation: k['ssl.ca.location'],
      ignoredProperties: k.ignored,
    },
    temporal: {
      address: env.KTO_TEMPORAL_ADDRESS ?? `127.0.0.1:${devPorts.temporal}`,
      namespace: env.KTO_TEMPORAL_NAMESPACE ?? 'default',
      taskQueue: env.KTO_TEMPORAL_TASK_QUEUE ?? 'kto',
      tlsCertPath: env.KTO_TEMPORAL_TLS_CERT,
      tlsKeyPath: env.KTO_TEMPORAL_TLS_KEY,
      tlsCaPath: env.KTO_TEMPORAL_TLS_CA,
      apiKey: env.KTO_TEMPORAL_API_KEY,
    },
    smtp: {
      host: env.KTO_SMTP_HOST ?? '127.0.0.1',
      port: env.KTO_SMTP_PORT ?? devPorts.smtp,
      secure: env.KTO_SMTP_SECURE ?? 'false',
      user: env.KTO_SMTP_USER,
      password: env.KTO_SMTP_PASSWORD,
      from: env.KTO_SMTP_FROM ?? 'kto <kto@localhost>',
    },
    devstack: {
      dir: path.resolve(env.KTO_DEVSTACK_DIR ?? '.devstack'),
      // Downloads can be shared by several checkouts or stacks (and cached by CI).
      cacheDir: path.resolve(env.KTO_DEVSTACK_CACHE_DIR ?? path.join(env.KTO_DEVSTACK_DIR ?? '.devstack', 'cache')),
      ports: devPorts,
      kafkaVersion: env.KTO_DEV_KAFKA_VERSION ?? KAFKA_VERSION,
      // Unset: as the stack's data was formatted (see DevStackOptions.kafkaSasl).
      kafkaSasl: env.KTO_DEV_KAFKA_SASL || undefined,
    },
    // The local stack's Apicurio Registry serves the Confluent API under /apis/ccompat/v7.
    schemaRegistry: registrySettings(
      env,
      k.fileProps,
      { username: k['sasl.username'], password: k['sasl.password'] },
      `http://127.0.0.1:${devPorts.schemaRegistry}/apis/ccompat/v7`,
    ),
    stagingDir: path.resolve(env.KTO_STAGING_DIR ?? path.join(os.tmpdir(), 'kto-staging')),
    logLevel: env.KTO_LOG_LEVEL ?? 'info',
    metricsPort: env.KTO_METRICS_PORT ?? '0',
    // Metrics and health answer anyone who can connect: only this machine unless asked otherwise.
    metricsHost: env.KTO_METRICS_HOST ?? '127.0.0.1',
    lagRefreshSeconds: env.KTO_LAG_REFRESH_SECONDS ?? '30',
    stepThreads: env.KTO_STEP_THREADS ?? String(os.availableParallelism()),
    stepHeapMb: env.KTO_STEP_HEAP_MB ?? '160',
    dispatcher: {
      topic: env.KTO_DISPATCHER_TOPIC ?? 'kto.commands',
      groupId: env.KTO_DISPATCHER_GROUP ?? 'kto-dispatcher',
      deadLetterTopic: env.KTO_DEAD_LETTER_TOPIC ?? 'kto.commands.dead-letter',
      maxInFlight: env.KTO_DISPATCHER_MAX_IN_FLIGHT ?? '64',
      ordered: env.KTO_DISPATCHER_ORDERED ?? 'false',
      maxBytes: env.KTO_DISPATCHER_MAX_BYTES ?? String(1024 * 1024),
    },
    alertOperatorEmail: env.KTO_ALERT_OPERATOR_EMAIL || undefined,
    alertEmail: env.KTO_ALERT_EMAIL ?? '',
    // Reverse-DNS prefix of the complete-batch topics (README "Complete batches").
    topicPrefix: env.KTO_TOPIC_PREFIX ?? 'com.example',
  };
}

/** Parses and validates the configuration; throws ConfigError that names each bad key and its fix. */
export function loadConfig(env: Env = process.env): KtoConfig {
  const result = configSchema.safeParse(withDefaults(env));
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const where = issue.path.join('.');
      const key = SOURCES[where] ?? SOURCES[issue.path.slice(0, 2).join('.')] ?? where;
      return `${key}: ${issue.message}`;
    }),
  );
}

/** A deep copy with every secret replaced, safe to print or log. */
export function redactConfig<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value, (key, v) => (/password|secret|apikey|token|userinfo/i.test(key) && v ? REDACTED : typeof v === 'string' && /^https?:\/\//.test(v) ? redactUrl(v) : v)),
  ) as T;
}

/** Re-exported: callers outside workflows import them from here. */
export { redactUrl, redactUrlsIn };
