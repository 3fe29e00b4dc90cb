import pino, { type Logger } from 'pino';

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

/**
 * `user:password@` of any URL in a log line, wherever it sits (a message, an error's stack, a
 * library's field): paths cannot name those. JSON escapes no character of a URL's authority.
 */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)(?!redacted@)[^\s/?#@"'\\]+@/gi;

/** The serialized line with URL credentials masked as redactUrl masks them, just before it is written. */
const maskUrlCredentials = (line: string): string => (line.includes('@') ? line.replace(URL_USERINFO, '$1redacted@') : line);

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
  const base = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, hooks: { streamWrite: maskUrlCredentials } };
  if (options.destination) return pino(base, options.destination as pino.DestinationStream);
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { destination: 2, ignore: 'pid,hostname' } } });
  }
  return pino(base, pino.destination(2));
}
