import { ConfigError, loadConfig, type KtoConfig } from '../config';
import { createLogger, type Logger } from '../logger';

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

/** An error a user can act on: what happened, why, and the fix. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** Prints a failure for a person (no stack trace for expected errors) and sets the exit code. */
export function reportFailure(err: unknown): void {
  if (err instanceof UserError) {
    process.stderr.write(`kto: ${err.message}\n${err.fix ? `fix: ${err.fix}\n` : ''}`);
  } else if (err instanceof ConfigError) {
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
