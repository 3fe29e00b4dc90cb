import { ApplicationFailure } from '@temporalio/common';
import nodemailer from 'nodemailer';
import { z } from 'zod';
import type { SmtpConfig } from '../src/runtime/config';
import type { Logger } from '../src/runtime/logger';

/**
 * The email side effect of the `send-email-alert` workflow (the seed's Airflow EmailOperator).
 * Failure types are part of the contract with the workflow's retry policy:
 * - `InvalidEmailInput` (non-retryable): bad address, or CR/LF in a header field (header injection);
 * - `SmtpPermanentError` (non-retryable): the server answered 5xx;
 * - `SmtpTransientError` (retryable): 4xx replies, refused connections, timeouts.
 */

const DEFAULT_SUBJECT = 'kto alert';
const DEFAULT_TEXT = 'This is an alert email sent by kto.';

const recipients = z
  .union([z.string(), z.array(z.string()).min(1)])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((a) => a.trim()).filter(Boolean))
  .pipe(z.array(z.email({ error: (issue) => `"${String(issue.input)}" is not an email address` })).min(1, 'at least one recipient is needed').max(50));

export const sendEmailInputSchema = z.object({
  /** One address, a comma-separated list, or an array of addresses. */
  to: recipients,
  /** @default 'kto alert' */
  subject: z.string().max(998).default(DEFAULT_SUBJECT),
  /** Plain-text body. @default 'This is an alert email sent by kto.' */
  text: z.string().default(DEFAULT_TEXT),
  /** Optional HTML alternative to `text`. */
  html: z.string().optional(),
});

/** What callers pass (defaults not yet applied). */
export type SendEmailInput = z.input<typeof sendEmailInputSchema>;

export interface SendEmailResult {
  messageId: string;
  /** Recipients the server accepted. */
  accepted: string[];
}

export interface EmailActivitiesOptions {
  smtp: SmtpConfig;
  logger: Logger;
  /** Connect, greeting and per-command socket timeout; short so a hung server becomes a retry, not a stuck activity. @default 5000 */
  timeoutMs?: number;
}

/** Fields that become message headers; a CR or LF in any of them could add headers of the caller's choosing. */
const HEADER_FIELDS = ['to', 'subject'] as const;

function findHeaderInjection(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null) return undefined;
  const record = input as Record<string, unknown>;
  for (const field of HEADER_FIELDS) {
    const values = ([] as unknown[]).concat(record[field] ?? []);
    if (values.some((v) => typeof v === 'string' && /[\r\n]/.test(v))) return field;
  }
  return undefined;
}

function invalidInput(message: string): ApplicationFailure {
  return ApplicationFailure.create({ message, type: 'InvalidEmailInput', nonRetryable: true });
}

/** Validates before any network I/O: bad input never heals on retry, so it fails the activity at once. */
function parseInput(input: unknown): z.output<typeof sendEmailInputSchema> {
  const injected = findHeaderInjection(input);
  if (injected) {
    throw invalidInput(
      `Email not sent: "${injected}" contains a line break (CR or LF), which could inject extra mail headers. Fix: remove newlines from "${injected}"; put multi-line content in "text" or "html".`,
    );
  }
  const parsed = sendEmailInputSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
    throw invalidInput(`Email not sent: invalid input (${problems}). Fix: pass { to: "someone@example.com", subject?, text?, html? }.`);
  }
  return parsed.data;
}

type SmtpError = Error & { responseCode?: number; code?: string; response?: string };

function classify(err: unknown, server: string): ApplicationFailure {
  const e = (err instanceof Error ? err : new Error(String(err))) as SmtpError;
  const details = [{ responseCode: e.responseCode ?? null, code: e.code ?? null }];
  if (e.responseCode !== undefined && e.responseCode >= 500) {
    return ApplicationFailure.create({
      message: `SMTP server ${server} refused the email permanently (${e.responseCode}): ${e.message}. A 5xx reply means retrying will not help. Fix: check the recipient addresses, KTO_SMTP_FROM and the SMTP account (KTO_SMTP_USER / KTO_SMTP_PASSWORD).`,
      type: 'SmtpPermanentError',
      nonRetryable: true,
      details,
      cause: e,
    });
  }
  const why = e.responseCode !== undefined ? `the server answered ${e.responseCode}` : `${e.code ?? 'connection error'}`;
  return ApplicationFailure.create({
    message: `Could not send email via ${server}: ${why}: ${e.message}. This is usually temporary, so the activity will be retried. If it persists, check that the SMTP server is up (KTO_SMTP_HOST / KTO_SMTP_PORT; locally: kto dev up).`,
    type: 'SmtpTransientError',
    nonRetryable: false,
    details,
    cause: e,
  });
}

/** Builds the email activities over one SMTP configuration. */
export function createEmailActivities(options: EmailActivitiesOptions) {
  const { smtp } = options;
  const timeoutMs = options.timeoutMs ?? 5000;
  const server = `${smtp.host}:${smtp.port}`;
  // The child logger carries where mail goes, never credentials.
  const log = options.logger.child({ namespace: 'email', smtp: server, secure: smtp.secure });
  // Plain SMTP transport (no `pool`): alerts are rare, and a fresh connection per attempt means a
  // retry never reuses a broken socket.
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    auth: smtp.user ? { user: smtp.user, pass: smtp.password ?? '' } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs * 3,
    disableFileAccess: true,
    disableUrlAccess: true,
  });

  return {
    async sendEmail(input: SendEmailInput): Promise<SendEmailResult> {
      const mail = parseInput(input);
      try {
        const info = await transport.sendMail({ from: smtp.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
        const { accepted } = info;
        log.info({ to: mail.to, subject: mail.subject, messageId: info.messageId, accepted, rejected: info.rejected.length }, 'email sent');
        return { messageId: info.messageId, accepted };
      } catch (err) {
        const failure = classify(err, server);
        log.warn({ to: mail.to, subject: mail.subject, type: failure.type, nonRetryable: failure.nonRetryable, reason: failure.message }, 'email not sent');
        throw failure;
      }
    },
  };
}

export type EmailActivities = ReturnType<typeof createEmailActivities>;
