import pino, { type Logger } from 'pino';
import { redactUrlsIn } from '../shared/redact-url';

export type { Logger };

/** Paths pino replaces with [redacted] wherever they appear in a log line. */
const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'saslPassword',
  '*.saslPassword',
  '*.*.saslPassword',
  'apiKey',
  '*.apiKey',
  '*.*.apiKey',
  'sasl.password',
  '*.sasl.password',
  'auth.pass',
  '*.auth.pass',
  'bearerToken',
  '*.bearerToken',
  '*.*.bearerToken',
  'headers.authorization',
  '*.headers.authorization',
];

export interface LoggerOptions {
  /** @default 'info' */
  level?: string;
  /** Human-readable output; JSON otherwise. @default true when stderr is a TTY */
  pretty?: boolean;
  /** Where the lines go. @default stderr */
  destination?: NodeJS.WritableStream;
}

/** One structured JSON logger per process; child loggers add `namespace` and ids. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.KTO_LOG_LEVEL ?? 'info';
  const pretty = options.pretty ?? (process.stderr.isTTY && !process.env.CI);
  const base = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, hooks: { streamWrite: redactUrlsIn } };
  if (options.destination) return pino(base, options.destination as pino.DestinationStream);
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { destination: 2, ignore: 'pid,hostname' } } });
  }
  return pino(base, pino.destination(2));
}
