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
import type { batch, ingest } from '../../workflows';
import { batchOptionsOf, ingestOptionsOf, type BatchPipelineConfig, type IngestPipelineConfig, type OverlapPolicyName } from '../project/pipelines-file';
import { batchWorkflowId } from '../shared/batch';
import { ingestWorkflowId } from '../shared/ingest';

/**
 * Temporal Schedules for the pipelines of the pipelines file: one per pipeline with a
 * `schedule`, id `kto-<kind>-<name>`, starting the kind's workflow (`batch`, `ingest`).
 * Schedules replace Airflow's scheduler: a cron, no catch-up, at most one run at a time, a
 * run timeout.
 */

/** A pipeline that may carry a schedule; pipeline names are unique across kinds. */
export type SchedulablePipeline = BatchPipelineConfig | IngestPipelineConfig;
export type PipelineKind = 'batch' | 'ingest';
/** Only a batch pipeline has an output topic. */
const isBatch = (p: SchedulablePipeline): p is BatchPipelineConfig => 'outputTopic' in p;
const kindOf = (p: SchedulablePipeline): PipelineKind => (isBatch(p) ? 'batch' : 'ingest');

const WORKFLOW_ID_OF: Record<PipelineKind, (pipeline: string) => string> = { batch: batchWorkflowId, ingest: ingestWorkflowId };
/** Prefixes of the schedules kto manages; `apply --prune` only ever deletes these. */
const SCHEDULE_ID_PREFIXES: Record<PipelineKind, string> = { batch: batchWorkflowId(''), ingest: ingestWorkflowId('') };
const scheduleIdOf = (pipeline: string, kind: PipelineKind = 'batch'): string => WORKFLOW_ID_OF[kind](pipeline);
const prefixOf = (scheduleId: string) => Object.values(SCHEDULE_ID_PREFIXES).find((prefix) => scheduleId.startsWith(prefix));
/** The pipeline a kto schedule id names. */
export const pipelineOfScheduleId = (scheduleId: string): string => scheduleId.slice(prefixOf(scheduleId)?.length ?? 0);

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

type PipelineScheduleOptions = ScheduleOptions<ScheduleOptionsStartWorkflowAction<typeof batch | typeof ingest>>;

/** The schedule a pipeline should have; `paused` follows `schedule.enabled`. */
export function desiredSchedule(pipeline: SchedulablePipeline, taskQueue: string): PipelineScheduleOptions {
  const s = pipeline.schedule;
  if (!s) throw new Error(`pipeline "${pipeline.name}" has no schedule`);
  const kind = kindOf(pipeline);
  const id = scheduleIdOf(pipeline.name, kind);
  const spec = { cronExpressions: [s.cron] };
  const policies: { overlap: ScheduleOverlapPolicy; catchupWindow: Duration } = { overlap: OVERLAP[s.overlap], catchupWindow: s.catchup ? FULL_CATCHUP_WINDOW : NO_CATCHUP_WINDOW };
  const args = [isBatch(pipeline) ? batchOptionsOf(pipeline) : ingestOptionsOf(pipeline)] as Parameters<typeof batch | typeof ingest>;
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
      workflowType: kind,
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
  async function describeId(scheduleId: string): Promise<ScheduleDescription | undefined> {
    try {
      return await client.schedule.getHandle(scheduleId).describe();
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * The schedule id of a pipeline name (or of a schedule id, returned as is): the kind whose
   * schedule exists, else the batch id, so a "not found" error names the usual id.
   */
  async function idOf(pipelineOrId: string): Promise<string> {
    if (prefixOf(pipelineOrId)) return pipelineOrId;
    for (const kind of Object.keys(SCHEDULE_ID_PREFIXES) as PipelineKind[]) {
      const id = scheduleIdOf(pipelineOrId, kind);
      if (await describeId(id)) return id;
    }
    return scheduleIdOf(pipelineOrId);
  }
  const handle = async (pipeline: string) => client.schedule.getHandle(await idOf(pipeline));

  async function ids(): Promise<string[]> {
    const out: string[] = [];
    for await (const s of client.schedule.list()) if (prefixOf(s.scheduleId)) out.push(s.scheduleId);
    return out.sort();
  }

  /** Runs `fn` on the pipeline's schedule and returns the schedule id, for the caller to print. */
  const onSchedule = async (pipeline: string, fn: (h: Awaited<ReturnType<typeof handle>>) => Promise<unknown>): Promise<string> => {
    const h = await handle(pipeline);
    await fn(h);
    return h.scheduleId;
  };

  return {
    /** A pipeline's schedule (by pipeline name or schedule id), or undefined when it has none. */
    describe: async (pipeline: string) => describeId(await idOf(pipeline)),

    /**
     * Makes Temporal's schedules match the pipelines: creates missing ones, updates changed
     * ones, leaves the rest alone. A schedule paused by hand stays paused until the pipeline's
     * definition (including `enabled`) changes. kto schedules whose pipeline is gone are
     * reported as orphaned, or deleted with `prune`.
     */
    async apply(pipelines: SchedulablePipeline[], options: { prune?: boolean } = {}): Promise<ApplyResult[]> {
      const results: ApplyResult[] = [];
      const wanted = new Set<string>();
      for (const p of pipelines.filter((x) => x.schedule)) {
        const desired = desiredSchedule(p, taskQueue);
        wanted.add(desired.scheduleId);
        const current = await describeId(desired.scheduleId);
        const base = { scheduleId: desired.scheduleId, pipeline: p.name };
        if (!current) {
          await client.schedule.create(desired);
          results.push({ ...base, outcome: 'created' });
        } else if (memoOf(current)?.hash === (desired.action.memo?.[MEMO_KEY] as ScheduleMemo).hash) {
          results.push({ ...base, outcome: 'unchanged' });
        } else {
          const { spec, policies, action, state } = desired;
          await client.schedule.getHandle(desired.scheduleId).update(() => ({ spec, policies, action, state: { paused: state?.paused, note: state?.note } }));
          results.push({ ...base, outcome: 'updated' });
        }
      }
      for (const id of await ids()) {
        if (wanted.has(id)) continue;
        if (options.prune) await client.schedule.getHandle(id).delete();
        results.push({ scheduleId: id, pipeline: pipelineOfScheduleId(id), outcome: options.prune ? 'deleted' : 'orphaned' });
      }
      return results;
    },

    /** Every kto schedule with its state, next run and the status of its latest run. */
    async list(): Promise<ScheduleRow[]> {
      const rows: ScheduleRow[] = [];
      for (const id of await ids()) {
        const d = await describeId(id);
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
          pipeline: pipelineOfScheduleId(id),
          cron: memoOf(d)?.cron ?? '(set outside kto)',
          paused: d.state.paused,
          note: d.state.note ?? '',
          nextRun: d.info.nextActionTimes[0] ?? null,
          lastRun,
        });
      }
      return rows;
    },

    // Each takes a pipeline name or a schedule id and resolves to the schedule id it acted on.
    pause: (pipeline: string, note = 'paused with kto schedule pause') => onSchedule(pipeline, (h) => h.pause(note)),
    unpause: (pipeline: string, note = 'unpaused with kto schedule unpause') => onSchedule(pipeline, (h) => h.unpause(note)),
    /** Starts one run now, under the schedule's own overlap policy (SKIP: nothing starts if a run is in flight). */
    trigger: (pipeline: string) => onSchedule(pipeline, async (h) => h.trigger((await h.describe()).policies.overlap)),
    delete: (pipeline: string) => onSchedule(pipeline, (h) => h.delete()),
  };
}

export type ScheduleManager = ReturnType<typeof createScheduleManager>;
