import type { Logger } from '../src/runtime/logger';
import { ordinal, type RunAlertInput, type RunAlertResult } from '../src/shared/run-alert';
import type { EmailActivities } from './email';

export interface RunAlertActivityDeps {
  /** Recipients of pipelines that name none in `onFailure.email` (KTO_ALERT_EMAIL). @default none */
  defaultRecipients?: string[];
  /** Failed or timed-out runs of the pipeline in a row before this one. @default always 0 */
  failedRunsBefore?: (pipeline: string, runId: string) => Promise<number>;
  /** Link to a run in the Temporal UI. @default none in the email */
  runUrl?: (workflowId: string, runId: string) => string;
}

/** The subject and plain-text body of a failed run's alert. */
export function runAlertEmail(alert: RunAlertInput, failedInARow: number, url?: string): { subject: string; text: string } {
  const what = alert.outcome === 'timed-out' ? 'timed out' : 'failed';
  const streak = `${ordinal(failedInARow)} failed run in a row`;
  const partitions = alert.failedPartitions.length
    ? alert.failedPartitions.map((p) => `  p${p.partition}: ${p.message}`)
    : [alert.unfinishedPartitions.length ? '  none' : "  none: the error is the run's own, not a partition's"];
  return {
    subject: `kto: batch pipeline ${alert.pipeline} ${what} (${streak})`,
    text: [
      `The batch pipeline "${alert.pipeline}" ${what}: its ${streak}.`,
      '',
      `Error: ${alert.error}`,
      '',
      'Failed partitions:',
      ...partitions,
      ...(alert.unfinishedPartitions.length ? ['', `Still running at the deadline: ${alert.unfinishedPartitions.map((p) => `p${p}`).join(', ')}`] : []),
      '',
      ...(url ? [`Run: ${url}`] : []),
      `Workflow: ${alert.workflowId} (run ${alert.runId})`,
      'The next run picks up the ranges of the failed partitions.',
    ].join('\n'),
  };
}

/** The alert email of a failed or timed-out batch run (`onFailure`, KTO_ALERT_EMAIL). */
export function createRunAlertActivities(deps: RunAlertActivityDeps & { email: EmailActivities; logger: Logger }) {
  const log = deps.logger.child({ namespace: 'run-alert' });
  return {
    async sendRunAlert(alert: RunAlertInput): Promise<RunAlertResult> {
      const recipients = alert.recipients ?? deps.defaultRecipients ?? [];
      if (recipients.length === 0) {
        log.info({ pipeline: alert.pipeline, workflowId: alert.workflowId }, 'run failed; no alert: the pipeline has no onFailure.email and KTO_ALERT_EMAIL is unset');
        return { sent: false, recipients, failedInARow: 0 };
      }
      const failedInARow = 1 + ((await deps.failedRunsBefore?.(alert.pipeline, alert.runId)) ?? 0);
      const mail = runAlertEmail(alert, failedInARow, deps.runUrl?.(alert.workflowId, alert.runId));
      await deps.email.sendEmail({ to: recipients, ...mail });
      return { sent: true, recipients, failedInARow };
    },
  };
}
