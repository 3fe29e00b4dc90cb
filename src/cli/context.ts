import type { Client } from '@temporalio/client';
import { ConfigError, loadConfig, type KtoConfig } from '../runtime/config';
import { createKafkaIo, type KafkaIo } from '../kafka';
import { createLogger, type Logger } from '../runtime/logger';
import { declaringFiles, type LoadedPipelines } from '../project/load';
import { connectClient } from '../temporal/connection';
import { isKtoError, UserError } from '../runtime/errors';

export interface CliContext {
  config: KtoConfig;
  logger: Logger;
}

let context: CliContext | undefined;

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
  const kafka = createKafkaIo(config.kafka, logger);
  try {
    return await fn(kafka);
  } finally {
    await kafka.close();
  }
}

/** Runs `fn` with a Temporal client from the CLI's config, its connection closed afterwards. */
export async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const { config } = cliContext();
  const client = await connectClient(config.temporal);
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

/** Prints a failure for a person (no stack trace for expected errors) and sets the exit code. */
export function reportFailure(err: unknown): void {
  if (err instanceof UserError) {
    process.stderr.write(`kto: ${err.message}\n${err.fix ? `fix: ${err.fix}\n` : ''}`);
  } else if (err instanceof ConfigError || isKtoError(err)) {
    // A KtoError names what failed and the fix in its message (a missing topic, say).
    process.stderr.write(`kto: ${err.message}\n`);
  } else {
    process.stderr.write(`kto: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
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
