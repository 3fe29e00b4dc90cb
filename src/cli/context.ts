import type { Client } from '@temporalio/client';
import { loadConfig, type KtoConfig } from '../runtime/config';
import { createKafkaIo, type KafkaClientOptions, type KafkaIo } from '../kafka';
import { checkBrokers } from '../kafka/client';
import { createLogger, type Logger } from '../runtime/logger';
import { declaringFiles, type LoadedPipelines } from '../project/load';
import { connectClient } from '../temporal/connection';
import { UserError } from '../runtime/errors';
import { failureText } from './errors';

export interface CliContext {
  config: KtoConfig;
  logger: Logger;
}

let context: CliContext | undefined;
let verbose = false;

/** `--verbose`: stack traces with every failure, and the client libraries' own log lines. */
export function setVerbose(on: boolean): void {
  verbose = on;
}

/**
 * A command's first contact with Kafka: 4 tries, each of the next seed broker, give up after
 * about 1 s when brokers refuse connections and 5 s when they do not answer (kafkajs' 1 s
 * connection timeout each). The work itself keeps the client's full retries, which ride out a
 * transaction coordinator still loading on a fresh broker.
 */
const CLI_BROKER_CHECK_RETRY = { initialRetryTime: 100, maxRetryTime: 1_000, multiplier: 2, factor: 0.2, retries: 3 };
/** Long enough for a TLS handshake with a remote Temporal Cloud, short enough that a wrong address is not a wait. */
const CLI_TEMPORAL_CONNECT_TIMEOUT = '3s';

/** Config and logger, parsed once per CLI process. */
export function cliContext(): CliContext {
  if (!context) {
    const config = loadConfig();
    context = { config, logger: createLogger({ level: config.logLevel }) };
  }
  return context;
}

/** Runs `fn` with Kafka clients from the CLI's config, closed afterwards. */
export async function withKafka<T>(fn: (kafka: KafkaIo) => Promise<T>): Promise<T> {
  const { config, logger } = cliContext();
  const options: KafkaClientOptions = { libraryLogLevel: libraryLogLevel(config) };
  await checkBrokers(config.kafka, logger, { ...options, retry: CLI_BROKER_CHECK_RETRY });
  const kafka = createKafkaIo(config.kafka, logger, options);
  try {
    return await fn(kafka);
  } finally {
    await kafka.close();
  }
}

/** Runs `fn` with a Temporal client from the CLI's config, its connection closed afterwards. */
export async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const { config } = cliContext();
  const client = await connectClient(config.temporal, { connectTimeout: CLI_TEMPORAL_CONNECT_TIMEOUT });
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/** A flag that must be a whole number ≥ 1, or a UserError naming the flag and an example. */
export function positiveInt(value: string, flag: string, example = '8'): number {
  const v = Number(value);
  if (!Number.isInteger(v) || v < 1) throw new UserError(`${flag} must be a whole number of at least 1, got "${value}".`, `e.g. ${flag} ${example}`);
  return v;
}

/** The error for a pipeline name the project does not declare: where kto looked, what it holds, `fix` when it holds nothing. */
export function unknownPipelineError(kind: 'batch' | 'ingest', name: string, pipelines: LoadedPipelines, alternative: string, fix: string): UserError {
  const known = pipelines[kind].map((p) => p.name);
  const files = declaringFiles(pipelines);
  return new UserError(
    `no ${kind} pipeline named "${name}" in ${files.length ? files.join(' or ') : 'this project (no kto.config.ts or kto.pipelines.yaml here, and KTO_CONFIG and KTO_PIPELINES_FILE unset)'}.`,
    known.length ? `use one of: ${known.join(', ')}${alternative}` : fix,
  );
}

/**
 * kafkajs' retries and connection errors are noise in a command that reports its own failure in
 * one line; --verbose or KTO_LOG_LEVEL=debug shows them as workers log them.
 */
function libraryLogLevel(config: KtoConfig): KafkaClientOptions['libraryLogLevel'] {
  return verbose || config.logLevel === 'debug' || config.logLevel === 'trace' ? 'warn' : 'nothing';
}

/** Prints a failure for a person (see errors.ts: one line and a fix, the stack only with --verbose) and sets the exit code. */
export function reportFailure(err: unknown): void {
  process.stderr.write(failureText(err, { config: context?.config, verbose }));
  process.exitCode = 1;
}

/** Wraps a command action so every failure is reported the same way. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      reportFailure(err);
    }
  };
}
