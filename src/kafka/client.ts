import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type KafkaConfig as KafkaJsConfig, type LogEntry, type RetryOptions, type SASLOptions } from 'kafkajs';
import { ConfigError, type KafkaConfig } from '../runtime/config';
import type { Logger } from '../runtime/logger';
import { fixIdleRequestQueueTimer } from './request-queue';

/** How a client retries and logs; the defaults are what workers and the dispatcher run with. */
export interface KafkaClientOptions {
  /**
   * Retries of every request, connecting to the brokers included.
   * @default { initialRetryTime: 100, maxRetryTime: 5_000, multiplier: 2, factor: 0.2, retries: 8 } (16-25 s before giving up)
   */
  retry?: RetryOptions;
  /** kafkajs' own log lines at this level or above reach kto's logger; 'nothing' drops them all. @default 'warn' */
  libraryLogLevel?: 'nothing' | 'error' | 'warn';
}

// Spelled out in full: kafkajs' defaults differ under NODE_ENV=test, and tests must see what production does.
const DEFAULT_RETRY: RetryOptions = { initialRetryTime: 100, maxRetryTime: 5_000, multiplier: 2, factor: 0.2, retries: 8 };

function withDefaults(options: KafkaClientOptions): Required<KafkaClientOptions> {
  return { retry: options.retry ?? DEFAULT_RETRY, libraryLogLevel: options.libraryLogLevel ?? 'warn' };
}

const LIBRARY_LOG_LEVELS = { nothing: logLevel.NOTHING, error: logLevel.ERROR, warn: logLevel.WARN } as const;

/** Maps kto's Kafka settings (librdkafka names) onto a kafkajs client. */
export function kafkaClientOptions(config: KafkaConfig, clientOptions: KafkaClientOptions = {}): KafkaJsConfig {
  const protocol = config.securityProtocol;
  const ssl = protocol === 'SSL' || protocol === 'SASL_SSL';
  const options: KafkaJsConfig = {
    clientId: config.clientId,
    brokers: config.brokers,
    ssl: ssl ? (config.sslCaLocation ? { ca: [readCa(config.sslCaLocation)] } : true) : false,
    retry: withDefaults(clientOptions).retry,
  };
  if (protocol.startsWith('SASL_')) {
    const mechanism = config.saslMechanism.toLowerCase() as 'plain' | 'scram-sha-256' | 'scram-sha-512';
    options.sasl = { mechanism, username: config.saslUsername ?? '', password: config.saslPassword ?? '' } as SASLOptions;
  }
  return options;
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([
      `KTO_KAFKA_SSL_CA_LOCATION (ssl.ca.location): cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err}). Fix: point it at the PEM file of the CA that signed the brokers' certificates`,
    ]);
  }
}

const NOISE = ['Limiting retries for the idempotent producer', 'switched default partitioner', 'not the correct coordinator', 'coordinator is not available'];

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** Creates the kafkajs client; its log lines go through kto's logger, namespaced. */
export function createKafka(config: KafkaConfig, logger: Logger, options: KafkaClientOptions = {}): Kafka {
  fixIdleRequestQueueTimer();
  const kafkaLogger = logger.child({ namespace: 'kafka' });
  return new Kafka({
    ...kafkaClientOptions(config, options),
    logLevel: LIBRARY_LOG_LEVELS[withDefaults(options).libraryLogLevel],
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...extra } = log;
        // kafkajs retries these itself; at error level they read like failures.
        const error = String((extra as { error?: unknown }).error ?? '');
        const retried = (extra as { retriable?: boolean }).retriable === true || NOISE.some((n) => message.includes(n) || error.includes(n));
        kafkaLogger[retried ? 'debug' : (LEVELS[level] ?? 'info')](extra, message);
      },
  });
}

/**
 * Connects to a seed broker (authenticating, when SASL is set) and disconnects: a quick answer to
 * "can this process reach Kafka at all?" before work whose requests retry for much longer.
 * Throws kafkajs' error when it cannot.
 */
export async function checkBrokers(config: KafkaConfig, logger: Logger, options: KafkaClientOptions = {}): Promise<void> {
  const admin = createKafka(config, logger, options).admin();
  try {
    await admin.connect();
  } finally {
    await admin.disconnect();
  }
}

/**
 * A client (admin, producer) connected on first use and shared; a failed connect is forgotten
 * so the next use tries again. `take()` hands the connection over for closing, once.
 */
export function lazilyConnected<T extends { connect(): Promise<void> }>(make: () => T) {
  let connection: Promise<T> | undefined;
  return {
    get(): Promise<T> {
      connection ??= (async () => {
        const client = make();
        await client.connect();
        return client;
      })().catch((err: unknown) => {
        connection = undefined;
        throw err;
      });
      return connection;
    },
    take(): Promise<T> | undefined {
      const taken = connection;
      connection = undefined;
      return taken;
    },
  };
}
