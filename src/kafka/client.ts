import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type KafkaConfig as KafkaJsConfig, type LogEntry, type SASLOptions } from 'kafkajs';
import type { KafkaConfig } from '../runtime/config';
import type { Logger } from '../runtime/logger';
import { fixIdleRequestQueueTimer } from './request-queue';

/** Maps kto's Kafka settings (librdkafka names) onto a kafkajs client. */
export function kafkaClientOptions(config: KafkaConfig): KafkaJsConfig {
  const protocol = config.securityProtocol;
  const ssl = protocol === 'SSL' || protocol === 'SASL_SSL';
  const options: KafkaJsConfig = {
    clientId: config.clientId,
    brokers: config.brokers,
    ssl: ssl ? (config.sslCaLocation ? { ca: [readFileSync(config.sslCaLocation, 'utf8')] } : true) : false,
    // Spelled out in full: kafkajs' defaults differ under NODE_ENV=test, and tests must see what production does.
    retry: { initialRetryTime: 100, maxRetryTime: 5_000, multiplier: 2, factor: 0.2, retries: 8 },
  };
  if (protocol.startsWith('SASL_')) {
    const mechanism = config.saslMechanism.toLowerCase() as 'plain' | 'scram-sha-256' | 'scram-sha-512';
    options.sasl = { mechanism, username: config.saslUsername ?? '', password: config.saslPassword ?? '' } as SASLOptions;
  }
  return options;
}

const NOISE = ['Limiting retries for the idempotent producer', 'switched default partitioner', 'not the correct coordinator', 'coordinator is not available'];

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** Creates the kafkajs client; its log lines go through kto's logger, namespaced. */
export function createKafka(config: KafkaConfig, logger: Logger): Kafka {
  fixIdleRequestQueueTimer();
  const kafkaLogger = logger.child({ namespace: 'kafka' });
  return new Kafka({
    ...kafkaClientOptions(config),
    logLevel: logLevel.WARN,
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
