import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { TopicNotFoundError, type KafkaAdmin } from '../kafka';
import type { LoadedPipelines } from '../project/load';
import type { KtoConfig } from '../runtime/config';
import { UserError } from '../runtime/errors';
import { COMPLETE_BATCH_COMMAND } from '../complete-batch';
import { KTO_RECORDS } from '../shared/search-attributes';
import { createScheduleManager } from '../temporal/schedules';
import { readGroupLag, type GroupLag } from './lag';
import { verdictOf, type Verdict } from './verdict';

/**
 * What `kto status` (and the console's status page) shows: per pipeline and for the dispatcher,
 * the consumer group's lag per partition, the last run, the next scheduled run and a verdict.
 * Read on demand from Kafka and Temporal; nothing is stored.
 */

export type StatusKind = 'batch' | 'ingest' | 'complete-batch' | 'dispatcher';

export interface RunSummary {
  workflowId: string;
  runId: string;
  /** Temporal's status name: RUNNING, COMPLETED, FAILED, TIMED_OUT, TERMINATED, CANCELLED, ... */
  status: string;
  startTime: string;
  closeTime: string | null;
  /** Null while running. */
  durationMs: number | null;
  /** From the run's memo (batch) or KtoRecords (ingest); null when the run did not record it (failed, running). */
  recordsIn: number | null;
  recordsOut: number | null;
  malformed: number | null;
}

export interface ScheduleStatus {
  scheduleId: string;
  /** The pipeline's cron as declared. */
  cron: string | null;
  paused: boolean;
  /** Next time the schedule starts a run; null when paused or none is due. */
  nextRun: string | null;
}

export interface PipelineStatus {
  /** Pipeline name; `dispatcher` for the dispatcher; the event topic for a complete-batch consumer. */
  name: string;
  kind: StatusKind;
  /** The consumer group's lag on its input topic; null for ingest (no group) or when it could not be read (see `error`). */
  lag: GroupLag | null;
  /** The newest run, finished or in flight. */
  lastRun: RunSummary | null;
  /** The newest finished run (the same as lastRun unless a run is in flight). */
  lastFinishedRun: RunSummary | null;
  runInFlight: boolean;
  schedule: ScheduleStatus | null;
  verdict: Verdict;
  /** Why the verdict, in a few words. */
  reason: string;
  /** What could not be read for this entry (e.g. its topic does not exist); the rest is still shown. */
  error: string | null;
}

export interface StatusReport {
  generatedAt: string;
  pipelines: PipelineStatus[];
}

export interface StatusDeps {
  config: Pick<KtoConfig, 'dispatcher' | 'temporal'>;
  admin: Pick<KafkaAdmin, 'watermarks' | 'committedOffsets' | 'groups' | 'topics'>;
  client: Client;
  project: Pick<LoadedPipelines, 'batch' | 'ingest'>;
  /** @default DEFAULT_BEHIND_AFTER_MS (verdict.ts) */
  behindAfterMs?: number;
  now?: () => Date;
}

export interface StatusFilter {
  /** One pipeline, `dispatcher`, or a complete-batch event topic. */
  pipeline?: string;
}

/** The dispatcher's entry name in the report. */
export const DISPATCHER = 'dispatcher';
const COMPLETE_BATCH_GROUP_PREFIX = 'kto-complete-batch.';

interface Target {
  name: string;
  kind: StatusKind;
  group: { groupId: string; topic: string } | null;
  runsQuery: string | null;
  /** Keeps only the runs of this entry when the query cannot say it (complete batches share one command). */
  runFilter?: (workflowId: string) => boolean;
  schedule: { cron: string } | null;
}

const quote = (value: string) => JSON.stringify(value);

function summaryOf(info: WorkflowExecutionInfo): RunSummary {
  const memo = (info.memo ?? {}) as Record<string, unknown>;
  const n = (v: unknown): number | null => (typeof v === 'number' ? v : null);
  const close = info.closeTime ?? null;
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    status: info.status.name,
    startTime: info.startTime.toISOString(),
    closeTime: close?.toISOString() ?? null,
    durationMs: close ? close.getTime() - info.startTime.getTime() : null,
    recordsIn: n(memo.recordsIn) ?? n(memo.kept) ?? info.typedSearchAttributes.get(KTO_RECORDS) ?? null,
    recordsOut: n(memo.recordsOut),
    malformed: n(memo.malformed),
  };
}

/** The newest run and the newest finished run matching `query` (visibility lists newest first). */
async function runsOf(client: Client, target: Target): Promise<{ last: RunSummary | null; finished: RunSummary | null }> {
  if (target.runsQuery === null) return { last: null, finished: null };
  let last: RunSummary | null = null;
  let scanned = 0;
  for await (const info of client.workflow.list({ query: target.runsQuery, pageSize: 20 })) {
    if (target.runFilter && !target.runFilter(info.workflowId)) {
      if (++scanned >= 200) break;
      continue;
    }
    const run = summaryOf(info);
    last ??= run;
    if (run.status !== 'RUNNING') return { last, finished: run };
    if (++scanned >= 200) break;
  }
  return { last, finished: null };
}

/** Every entry the report may hold: the project's pipelines, the dispatcher, the complete-batch consumers found in Kafka. */
async function targetsOf(deps: StatusDeps): Promise<Target[]> {
  const batch: Target[] = deps.project.batch.map((p) => ({
    name: p.name,
    kind: 'batch',
    group: { groupId: p.groupId, topic: p.topic },
    runsQuery: `WorkflowType = 'batch' AND KtoPipeline = ${quote(p.name)}`,
    schedule: p.schedule ? { cron: p.schedule.cron } : null,
  }));
  const ingest: Target[] = deps.project.ingest.map((p) => ({
    name: p.name,
    kind: 'ingest',
    group: null,
    runsQuery: `WorkflowType = 'ingest' AND KtoPipeline = ${quote(p.name)}`,
    schedule: p.schedule ? { cron: p.schedule.cron } : null,
  }));
  const dispatcher: Target = {
    name: DISPATCHER,
    kind: 'dispatcher',
    group: { groupId: deps.config.dispatcher.groupId, topic: deps.config.dispatcher.topic },
    runsQuery: null,
    schedule: null,
  };
  return [...batch, ...ingest, dispatcher, ...(await completeBatchTargets(deps))];
}

/**
 * `kto complete-batch consume` keeps its progress in the group `kto-complete-batch.<event topic>`
 * (its default); a run's marker group `kto-complete-batch.<run id>` names no topic and is left out.
 */
async function completeBatchTargets(deps: StatusDeps): Promise<Target[]> {
  const [groups, topics] = await Promise.all([deps.admin.groups(), deps.admin.topics()]);
  const topicNames = new Set(topics.map((t) => t.topic));
  return groups
    .filter((g) => g.startsWith(COMPLETE_BATCH_GROUP_PREFIX) && topicNames.has(g.slice(COMPLETE_BATCH_GROUP_PREFIX.length)))
    .sort()
    .map((groupId) => {
      const topic = groupId.slice(COMPLETE_BATCH_GROUP_PREFIX.length);
      const idPrefix = `${COMPLETE_BATCH_COMMAND}:${topic}-`;
      return {
        name: topic,
        kind: 'complete-batch' as const,
        group: { groupId, topic },
        runsQuery: `WorkflowType = 'completeBatch'`,
        runFilter: (id: string) => id.startsWith(idPrefix) && /^\d+-\d+$/.test(id.slice(idPrefix.length)),
        schedule: null,
      };
    });
}

async function scheduleOf(manager: ReturnType<typeof createScheduleManager>, target: Target): Promise<ScheduleStatus | null> {
  if (target.schedule === null) return null;
  const d = await manager.describe(target.name);
  if (!d) return null;
  const next = d.info.nextActionTimes[0];
  return { scheduleId: d.scheduleId, cron: target.schedule.cron, paused: d.state.paused, nextRun: d.state.paused || !next ? null : next.toISOString() };
}

async function statusOf(deps: StatusDeps, manager: ReturnType<typeof createScheduleManager>, target: Target): Promise<PipelineStatus> {
  let error: string | null = null;
  const lag = target.group
    ? await readGroupLag(deps.admin, target.group.groupId, target.group.topic).catch((err: unknown) => {
        if (!(err instanceof TopicNotFoundError)) throw err;
        error = `topic ${target.group?.topic} does not exist`;
        return null;
      })
    : null;
  const [{ last, finished }, schedule] = await Promise.all([runsOf(deps.client, target), scheduleOf(manager, target)]);
  const runInFlight = last?.status === 'RUNNING';
  const { verdict, reason } = verdictOf({
    kind: target.kind,
    schedule,
    lastFinishedStatus: finished?.status ?? null,
    lastStartMs: last ? Date.parse(last.startTime) : null,
    runInFlight,
    lag: lag?.total ?? 0,
    nowMs: (deps.now?.() ?? new Date()).getTime(),
    behindAfterMs: deps.behindAfterMs,
  });
  return { name: target.name, kind: target.kind, lag, lastRun: last, lastFinishedRun: finished, runInFlight, schedule, verdict, reason, error };
}

/**
 * The status of every pipeline of the project, the dispatcher and each complete-batch consumer
 * (or of one, by name). Throws a UserError naming the known entries for an unknown name.
 */
export async function collectStatus(deps: StatusDeps, filter: StatusFilter = {}): Promise<StatusReport> {
  const all = await targetsOf(deps);
  const targets = filter.pipeline === undefined ? all : all.filter((t) => t.name === filter.pipeline);
  if (targets.length === 0) {
    throw new UserError(`no pipeline named "${filter.pipeline}" in this project.`, `use one of: ${all.map((t) => t.name).join(', ')}; \`kto pipelines\` lists the project's pipelines`);
  }
  const manager = createScheduleManager({ client: deps.client, taskQueue: deps.config.temporal.taskQueue });
  const generatedAt = (deps.now?.() ?? new Date()).toISOString();
  const pipelines: PipelineStatus[] = [];
  // One entry at a time: a project's worth of small reads, without a burst on the brokers.
  for (const target of targets) pipelines.push(await statusOf(deps, manager, target));
  return { generatedAt, pipelines };
}
