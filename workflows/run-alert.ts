import { ApplicationFailure, isCancellation, log, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { BatchPipeline } from '../src/shared/batch';
import { innermostMessage } from '../src/shared/errors';
import type { FailedPartition } from '../src/shared/run-alert';

/**
 * The alert of a failed batch run: a few quick attempts, well inside the margin left before the
 * run timeout. It reports a failure; it must not prolong one.
 */
const alerts = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
});

/** What the run's partitions are doing, kept by the run for its alert. */
export interface RunTracker {
  /** Partitions whose child is running. */
  running: Set<number>;
  /** Partitions whose child failed. */
  failed: FailedPartition[];
}

/** The longest margin kept before a run timeout for the alert; shorter timeouts keep a quarter. */
const MAX_ALERT_MARGIN_MS = 2 * 60_000;

/**
 * Milliseconds until the run must stop its work to alert before its run (or execution) timeout
 * kills it, or undefined without a timeout. A run killed by its timeout runs no more code, so it
 * stops itself first: at the timeout minus a quarter of it, at most 2 minutes before.
 */
function alertDeadlineMs(): { inMs: number; timeoutMs: number; marginMs: number } | undefined {
  const info = workflowInfo();
  const limits = [
    info.runTimeoutMs ? { timeoutMs: info.runTimeoutMs, since: info.runStartTime.getTime() } : undefined,
    info.executionTimeoutMs ? { timeoutMs: info.executionTimeoutMs, since: info.startTime.getTime() } : undefined,
  ].flatMap((l) => (l ? [{ ...l, left: l.since + l.timeoutMs - Date.now() }] : []));
  if (limits.length === 0) return undefined;
  const nearest = limits.reduce((a, b) => (b.left < a.left ? b : a));
  const marginMs = Math.min(MAX_ALERT_MARGIN_MS, Math.floor(nearest.timeoutMs / 4));
  return { inMs: Math.max(1, nearest.left - marginMs), timeoutMs: nearest.timeoutMs, marginMs };
}

const TIMED_OUT = Symbol('timed out');

/**
 * Runs a batch run's work and, when it fails or reaches its deadline, sends one alert email for
 * the run (`onFailure.email`, else the worker's KTO_ALERT_EMAIL) and fails with the run's own
 * error. An alert that cannot be sent is logged; it never replaces the run's error.
 */
export async function alertingOnFailure<T>(pipeline: BatchPipeline, work: (tracker: RunTracker) => Promise<T>): Promise<T> {
  const tracker: RunTracker = { running: new Set(), failed: [] };
  const deadline = alertDeadlineMs();
  const working = work(tracker);
  // Past the deadline the work is left running until the run fails; its later end is not an unhandled rejection.
  working.catch(() => undefined);
  let error: unknown;
  let outcome: 'failed' | 'timed-out' = 'failed';
  try {
    const result = deadline ? await Promise.race([working, sleep(deadline.inMs).then(() => TIMED_OUT)]) : await working;
    if (result !== TIMED_OUT) return result as T;
    outcome = 'timed-out';
    error = ApplicationFailure.create({
      type: 'RunTimedOut',
      message: `the run did not finish within its ${Math.round(deadline!.timeoutMs / 1000)} s timeout (it stopped itself ${Math.round(deadline!.marginMs / 1000)} s early to send its alert)`,
      nonRetryable: true,
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    error = err;
  }
  const { workflowId, runId } = workflowInfo();
  try {
    await alerts.sendRunAlert({
      pipeline: pipeline.pipeline,
      workflowId,
      runId,
      outcome,
      error: innermostMessage(error),
      failedPartitions: [...tracker.failed].sort((a, b) => a.partition - b.partition),
      unfinishedPartitions: outcome === 'timed-out' ? [...tracker.running].sort((a, b) => a - b) : [],
      ...(pipeline.onFailure && { recipients: pipeline.onFailure.email }),
    });
  } catch (alertError) {
    log.error('the alert email of the failed run was not sent', { pipeline: pipeline.pipeline, reason: innermostMessage(alertError) });
  }
  throw error;
}
