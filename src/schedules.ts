import { createHash } from 'node:crypto';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { batch } from '../workflows';
import { batchOptionsOf, type BatchPipelineConfig, type OverlapPolicyName } from './pipelines';
import { batchWorkflowId } from './shared/batch';

/**
 * Temporal Schedules for the batch pipelines of the pipelines file: one per pipeline with a
 * `schedule`, id `kto-batch-<name>`, starting the `batch` workflow. Schedules replace
 * Airflow's scheduler: `@daily`, no catch-up, at most one run at a time, a run timeout.
 */

/** Prefix of every schedule kto manages; `apply --prune` only ever deletes these. */
export const SCHEDULE_ID_PREFIX = 'kto-batch-';
export const scheduleIdOf = (pipeline: string): string => batchWorkflowId(pipeline);

/**
 * Temporal has no "no catch-up": it raises any smaller window to 10 s, its minimum, so a
 * schedule without catch-up still starts a run that is at most 10 s late.
 */
export const NO_CATCHUP_WINDOW = '10s' satisfies Duration;
/** Temporal's own default: missed actions up to a year back run when the server returns. */
export const FULL_CATCHUP_WINDOW = '365d' satisfies Duration;

const OVERLAP: Record<OverlapPolicyName, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'buffer-all': ScheduleOverlapPolicy.BUFFER_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
  'terminate-other': ScheduleOverlapPolicy.TERMINATE_OTHER,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
};

/** The action memo key holding what `apply` last wrote, so an unchanged file changes nothing. */
const MEMO_KEY = 'ktoSchedule';
interface ScheduleMemo {
  hash: string;
  cron: string;
}

type BatchScheduleOptions = ScheduleOptions<ScheduleOptionsStartWorkflowAction<typeof batch>>;

/** The schedule a pipeline should have; `paused` follows `schedule.enabled`. */
export function desiredSchedule(pipeline: BatchPipelineConfig, taskQueue: string): BatchScheduleOptions {
  const s = pipeline.schedule;
  if (!s) throw new Error(`pipeline "${pipeline.name}" has no schedule`);
  const id = scheduleIdOf(pipeline.name);
  const spec = { cronExpressions: [s.cron] };
  const policies: { overlap: ScheduleOverlapPolicy; catchupWindow: Duration } = { overlap: OVERLAP[s.overlap], catchupWindow: s.catchup ? FULL_CATCHUP_WINDOW : NO_CATCHUP_WINDOW };
  const args = [batchOptionsOf(pipeline)] as [ReturnType<typeof batchOptionsOf>];
  const hash = createHash('sha256')
    .update(JSON.stringify({ spec, policies, args, taskQueue, timeout: s.timeout, enabled: s.enabled, v: 1 }))
    .digest('hex')
    .slice(0, 16);
  return {
    scheduleId: id,
    spec,
    policies,
    action: {
      type: 'startWorkflow',
      workflowType: 'batch',
      // Temporal appends the scheduled time to this id, e.g. kto-batch-voltage-daily-2024-01-02T00:00:00Z.
      workflowId: id,
      taskQueue,
      args,
      workflowRunTimeout: s.timeout,
      memo: { [MEMO_KEY]: { hash, cron: s.cron } satisfies ScheduleMemo },
    },
    memo: { ktoPipeline: pipeline.name },
    state: { paused: !s.enabled, note: s.enabled ? 'applied by kto' : 'disabled in the pipelines file (schedule.enabled: false)' },
  };
}

export type ApplyOutcome = 'created' | 'updated' | 'unchanged' | 'orphaned' | 'deleted';
export interface ApplyResult {
  scheduleId: string;
  pipeline: string;
  outcome: ApplyOutcome;
}

export interface ScheduleRow {
  scheduleId: string;
  pipeline: string;
  cron: string;
  paused: boolean;
  note: string;
  nextRun: Date | null;
  lastRun: { workflowId: string; startedAt: Date; status: string } | null;
}

function memoOf(d: ScheduleDescription): ScheduleMemo | undefined {
  return d.action.type === 'startWorkflow' ? (d.action.memo?.[MEMO_KEY] as ScheduleMemo | undefined) : undefined;
}

export interface ScheduleManagerOptions {
  client: Client;
  /** Task queue the scheduled runs go to (config.temporal.taskQueue). */
  taskQueue: string;
}

export function createScheduleManager({ client, taskQueue }: ScheduleManagerOptions) {
  const handle = (pipeline: string) => client.schedule.getHandle(scheduleIdOf(pipeline));

  async function describe(pipeline: string): Promise<ScheduleDescription | undefined> {
    try {
      return await handle(pipeline).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return undefined;
      throw err;
    }
  }

  async function ids(): Promise<string[]> {
    const out: string[] = [];
    for await (const s of client.schedule.list()) if (s.scheduleId.startsWith(SCHEDULE_ID_PREFIX)) out.push(s.scheduleId);
    return out.sort();
  }

  return {
    describe,

    /**
     * Makes Temporal's schedules match the pipelines: creates missing ones, updates changed
     * ones, leaves the rest alone. A schedule paused by hand stays paused until the pipeline's
     * definition (including `enabled`) changes. kto schedules whose pipeline is gone are
     * reported as orphaned, or deleted with `prune`.
     */
    async apply(pipelines: BatchPipelineConfig[], options: { prune?: boolean } = {}): Promise<ApplyResult[]> {
      const results: ApplyResult[] = [];
      const scheduled = pipelines.filter((p) => p.schedule);
      for (const p of scheduled) {
        const desired = desiredSchedule(p, taskQueue);
        const current = await describe(p.name);
        const base = { scheduleId: desired.scheduleId, pipeline: p.name };
        if (!current) {
          await client.schedule.create(desired);
          results.push({ ...base, outcome: 'created' });
        } else if (memoOf(current)?.hash === (desired.action.memo?.[MEMO_KEY] as ScheduleMemo).hash) {
          results.push({ ...base, outcome: 'unchanged' });
        } else {
          const { spec, policies, action, state } = desired;
          await handle(p.name).update(() => ({ spec, policies, action, state: { paused: state?.paused, note: state?.note } }));
          results.push({ ...base, outcome: 'updated' });
        }
      }
      const wanted = new Set(scheduled.map((p) => scheduleIdOf(p.name)));
      for (const id of await ids()) {
        if (wanted.has(id)) continue;
        const pipeline = id.slice(SCHEDULE_ID_PREFIX.length);
        if (options.prune) await client.schedule.getHandle(id).delete();
        results.push({ scheduleId: id, pipeline, outcome: options.prune ? 'deleted' : 'orphaned' });
      }
      return results;
    },

    /** Every kto schedule with its state, next run and the status of its latest run. */
    async list(): Promise<ScheduleRow[]> {
      const rows: ScheduleRow[] = [];
      for (const id of await ids()) {
        const pipeline = id.slice(SCHEDULE_ID_PREFIX.length);
        const d = await describe(pipeline);
        if (!d) continue; // deleted between list and describe
        const last = d.info.recentActions.at(-1);
        let lastRun: ScheduleRow['lastRun'] = null;
        if (last) {
          const { workflowId, firstExecutionRunId } = last.action.workflow;
          const status = await client.workflow
            .getHandle(workflowId, firstExecutionRunId)
            .describe()
            .then((w) => w.status.name)
            .catch(() => 'UNKNOWN');
          lastRun = { workflowId, startedAt: last.takenAt, status };
        }
        rows.push({
          scheduleId: id,
          pipeline,
          cron: memoOf(d)?.cron ?? '(set outside kto)',
          paused: d.state.paused,
          note: d.state.note ?? '',
          nextRun: d.info.nextActionTimes[0] ?? null,
          lastRun,
        });
      }
      return rows;
    },

    pause: (pipeline: string, note = 'paused with kto schedule pause') => handle(pipeline).pause(note),
    unpause: (pipeline: string, note = 'unpaused with kto schedule unpause') => handle(pipeline).unpause(note),
    /** Starts one run now, under the schedule's own overlap policy (SKIP: nothing starts if a run is in flight). */
    async trigger(pipeline: string): Promise<void> {
      const d = await handle(pipeline).describe();
      await handle(pipeline).trigger(d.policies.overlap);
    },
    delete: (pipeline: string) => handle(pipeline).delete(),
  };
}

export type ScheduleManager = ReturnType<typeof createScheduleManager>;
