/**
 * The one-word health of a pipeline in `kto status`, from facts collectStatus gathers. The rules,
 * first match wins (also in docs/design.md, "Status"):
 *
 * 1. **paused**: the pipeline has a schedule and it is paused.
 * 2. **failing**: the newest finished run ended failed, timed out or terminated. A run in flight
 *    does not clear it; the next run that completes does.
 * 3. **behind**: lag > 0, no run in flight, and either the pipeline has no running schedule (nothing
 *    will pick the records up by itself: a manual pipeline, or an `after` pipeline whose upstream
 *    has not run) or its newest run started more than `behindAfterMs` ago (none at all counts as
 *    long ago). The dispatcher, which has no runs, is behind whenever its group has lag.
 * 4. **ok**: everything else, e.g. lag that a run in flight or the next scheduled run will read.
 *
 * Ingest pipelines read no consumer group, so their lag is 0 and they are never behind.
 */

export const VERDICTS = ['ok', 'behind', 'failing', 'paused'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** Statuses of a finished run that make a pipeline failing (Temporal's names). */
export const FAILED_STATUSES = ['FAILED', 'TIMED_OUT', 'TERMINATED'] as const;

/** One day and an hour: a daily schedule's backlog counts as behind once a run is overdue. */
export const DEFAULT_BEHIND_AFTER_MS = 25 * 60 * 60 * 1000;

export interface VerdictFacts {
  kind: 'batch' | 'ingest' | 'complete-batch' | 'dispatcher';
  /** Null when the pipeline has no schedule. */
  schedule: { paused: boolean } | null;
  /** Temporal status name of the newest finished run (COMPLETED, FAILED, ...), or null. */
  lastFinishedStatus: string | null;
  /** Start time of the newest run, finished or not, in ms since the epoch, or null. */
  lastStartMs: number | null;
  runInFlight: boolean;
  /** Total lag of the pipeline's group; 0 when it has none. */
  lag: number;
  nowMs: number;
  /** @default DEFAULT_BEHIND_AFTER_MS */
  behindAfterMs?: number;
}

export interface VerdictResult {
  verdict: Verdict;
  /** Why, in a few words, for the table and the console. */
  reason: string;
}

export function verdictOf(f: VerdictFacts): VerdictResult {
  const behindAfterMs = f.behindAfterMs ?? DEFAULT_BEHIND_AFTER_MS;
  if (f.schedule?.paused) return { verdict: 'paused', reason: 'schedule paused' };
  if (f.lastFinishedStatus !== null && (FAILED_STATUSES as readonly string[]).includes(f.lastFinishedStatus)) {
    return { verdict: 'failing', reason: `last run ${f.lastFinishedStatus.toLowerCase().replace('_', ' ')}` };
  }
  if (f.lag > 0 && !f.runInFlight) {
    if (f.kind === 'dispatcher') return { verdict: 'behind', reason: `${f.lag} records not dispatched` };
    if (f.schedule === null) return { verdict: 'behind', reason: `${f.lag} records unread, no schedule` };
    if (f.lastStartMs === null || f.nowMs - f.lastStartMs > behindAfterMs) {
      return { verdict: 'behind', reason: `${f.lag} records unread, ${f.lastStartMs === null ? 'never run' : 'last run overdue'}` };
    }
  }
  if (f.runInFlight) return { verdict: 'ok', reason: 'run in flight' };
  return { verdict: 'ok', reason: f.lag > 0 ? `${f.lag} records for the next run` : 'up to date' };
}
