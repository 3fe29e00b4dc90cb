import type { Duration } from '@temporalio/common';
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { CommandBatch } from '../src/shared/command-batch';
import { innermostMessage } from '../src/shared/errors';

/** Retry of the alert email itself; the seed's Airflow DAG retried once after five minutes. */
export interface EmailAlertRetry {
  /** Attempts in total, the first included. @default 2 */
  maximumAttempts?: number;
  /** Wait before the first retry. @default '5m' */
  initialInterval?: Duration;
  /** @default 2 */
  backoffCoefficient?: number;
}

export interface SendEmailAlertInput {
  /** Recipient of the alert (the seed's `dag_run.conf["email"]`). */
  to: string;
  /** @default 'Alert Email from kto' */
  subject?: string;
  /** Plain-text body. @default 'This is an alert email sent from kto.' */
  body?: string;
  /**
   * Operator notified when every attempt failed (the seed's `email_on_failure`); filled by the
   * command registry from KTO_ALERT_OPERATOR_EMAIL. No failure alert when unset.
   */
  failureAlertTo?: string;
  retry?: EmailAlertRetry;
}

export interface SendEmailAlertResult {
  messageId: string;
  accepted: string[];
}

export const SEND_EMAIL_ALERT_DEFAULTS = {
  subject: 'Alert Email from kto',
  body: 'This is an alert email sent from kto.',
  retry: { maximumAttempts: 2, initialInterval: '5m', backoffCoefficient: 2 },
} as const;

function withDefaults(input: SendEmailAlertInput) {
  return {
    ...input,
    subject: input.subject ?? SEND_EMAIL_ALERT_DEFAULTS.subject,
    body: input.body ?? SEND_EMAIL_ALERT_DEFAULTS.body,
    retry: { ...SEND_EMAIL_ALERT_DEFAULTS.retry, ...input.retry },
  };
}

/** The failure alert gets its own short, fixed retry: it reports a failure, it must not prolong one. */
const operatorMail = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
});

/**
 * Sends one alert email (the seed's `send_email_alert` DAG). Invalid input and 5xx replies are
 * not retried (the activity marks them non-retryable); everything else is retried per `retry`.
 * When every attempt failed, the operator gets a failure alert and the workflow fails.
 */
export async function sendEmailAlert(input: SendEmailAlertInput): Promise<SendEmailAlertResult> {
  const alert = withDefaults(input);
  const mail = proxyActivities<Activities>({
    startToCloseTimeout: '1m',
    retry: alert.retry,
  });
  try {
    return await mail.sendEmail({ to: alert.to, subject: alert.subject, text: alert.body });
  } catch (err) {
    // An ActivityFailure wraps the ApplicationFailure that says what SMTP answered.
    const reason = innermostMessage(err);
    const { workflowId, runId } = workflowInfo();
    if (alert.failureAlertTo) {
      await operatorMail.sendEmail({
        to: alert.failureAlertTo,
        subject: `kto: alert email to ${alert.to} failed`,
        text: [
          `kto could not send the alert email "${alert.subject}" to ${alert.to}.`,
          `Reason: ${reason}`,
          `Workflow: ${workflowId} (run ${runId})`,
          'See the workflow history in the Temporal UI for every attempt.',
        ].join('\n'),
      });
    }
    throw ApplicationFailure.create({
      type: 'EmailAlertFailed',
      message: `Alert email to ${alert.to} was not sent: ${reason}${alert.failureAlertTo ? `; operator ${alert.failureAlertTo} notified` : ''}`,
      nonRetryable: true,
      cause: err instanceof Error ? err : undefined,
    });
  }
}

export interface SendEmailDigestResult {
  /** One per recipient. */
  sent: { to: string; alerts: number; messageId: string }[];
}

/**
 * Sends one digest email per recipient for a batch of `app.send_email_digest` commands (the
 * dispatcher gathers them by Kafka key): the subject counts the alerts, the body lists each
 * one's subject and body in the order they were produced. Retried like an alert email.
 */
export async function sendEmailDigest(batch: CommandBatch<[SendEmailAlertInput]>): Promise<SendEmailDigestResult> {
  const byRecipient = new Map<string, SendEmailAlertInput[]>();
  for (const { args } of batch.items) {
    const [alert] = args;
    byRecipient.set(alert.to, [...(byRecipient.get(alert.to) ?? []), alert]);
  }
  const mail = proxyActivities<Activities>({ startToCloseTimeout: '1m', retry: SEND_EMAIL_ALERT_DEFAULTS.retry });
  const sent: SendEmailDigestResult['sent'] = [];
  for (const [to, alerts] of byRecipient) {
    const parts = alerts.map(withDefaults);
    const { messageId } = await mail.sendEmail({
      to,
      subject: parts.length === 1 ? parts[0].subject : `${parts.length} alerts: ${parts[0].subject}`,
      text: parts.map((a, i) => `${i + 1}. ${a.subject}\n${a.body}`).join('\n\n'),
    });
    sent.push({ to, alerts: parts.length, messageId });
  }
  return { sent };
}
