import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { tsToMs } from '@temporalio/common/lib/time';
import type { temporal } from '@temporalio/proto';
import { KTO_COMMAND, KTO_PARTITION, KTO_PIPELINE, KTO_RECORDS, KTO_TOPIC } from '../shared/search-attributes';

/**
 * What `kto runs list` and `kto runs show` read from Temporal: visibility queries over kto's
 * search attributes, and a run's event history folded into one line per activity.
 */

export const RUN_STATUSES = ['running', 'completed', 'failed', 'terminated', 'canceled', 'timed-out'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface RunFilter {
  pipeline?: string;
  topic?: string;
  status?: RunStatus;
  /** Workflow type as exported from workflows/index.ts, e.g. `batch`, `partition`, `sendEmailAlert`. */
  type?: string;
  /** The dispatcher command that started the run, e.g. `send-email-alert`. */
  command?: string;
}

export interface RunRow {
  workflowId: string;
  runId: string;
  type: string;
  status: string;
  startTime: string;
  closeTime: string | null;
  durationMs: number | null;
  pipeline: string | null;
  topic: string | null;
  partition: number | null;
  records: number | null;
  command: string | null;
}

const STATUS_NAMES: Record<RunStatus, string> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  terminated: 'Terminated',
  canceled: 'Canceled',
  'timed-out': 'TimedOut',
};

/** A visibility query (Temporal's SQL-like list filter) for the filter; empty means every run. */
export function runsQuery(filter: RunFilter): string {
  const quote = (value: string) => JSON.stringify(value);
  const clauses = [
    filter.pipeline !== undefined && `KtoPipeline = ${quote(filter.pipeline)}`,
    filter.topic !== undefined && `KtoTopic = ${quote(filter.topic)}`,
    filter.type !== undefined && `WorkflowType = ${quote(filter.type)}`,
    filter.command !== undefined && `KtoCommand = ${quote(filter.command)}`,
    filter.status !== undefined && `ExecutionStatus = ${quote(STATUS_NAMES[filter.status])}`,
  ].filter((c): c is string => typeof c === 'string');
  return clauses.join(' AND ');
}

type VisibleRun = Pick<WorkflowExecutionInfo, 'workflowId' | 'runId' | 'type' | 'status' | 'startTime' | 'closeTime' | 'typedSearchAttributes'>;

export function toRunRow(info: VisibleRun): RunRow {
  const attrs = info.typedSearchAttributes;
  const close = info.closeTime ?? null;
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    type: info.type,
    status: info.status.name,
    startTime: info.startTime.toISOString(),
    closeTime: close?.toISOString() ?? null,
    durationMs: close ? close.getTime() - info.startTime.getTime() : null,
    pipeline: attrs.get(KTO_PIPELINE) ?? null,
    topic: attrs.get(KTO_TOPIC) ?? null,
    partition: attrs.get(KTO_PARTITION) ?? null,
    records: attrs.get(KTO_RECORDS) ?? null,
    command: attrs.get(KTO_COMMAND) ?? null,
  };
}

/** The newest `limit` runs matching the filter (visibility lists newest first). */
export async function listRuns(client: Client, filter: RunFilter, limit: number): Promise<RunRow[]> {
  const rows: RunRow[] = [];
  const query = runsQuery(filter);
  for await (const info of client.workflow.list(query ? { query, pageSize: Math.min(limit, 1000) } : { pageSize: Math.min(limit, 1000) })) {
    rows.push(toRunRow(info));
    if (rows.length >= limit) break;
  }
  return rows;
}

export interface ActivityStep {
  activityId: string;
  type: string;
  taskQueue: string | null;
  /** Attempts the last event reports (1 = succeeded or failed on the first try). */
  attempts: number;
  status: 'scheduled' | 'running' | 'completed' | 'failed' | 'timed-out' | 'canceled';
  scheduledAt: string;
  /** From the last attempt's start to its end. */
  durationMs: number | null;
  failure: string | null;
}

export interface ChildRun {
  workflowId: string;
  type: string;
  status: 'started' | 'completed' | 'failed' | 'other';
}

export interface RunDetails extends RunRow {
  memo: Record<string, unknown>;
  activities: ActivityStep[];
  children: ChildRun[];
  result: unknown;
  failure: string | null;
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const decode = (payloads: temporal.api.common.v1.IPayloads | null | undefined): unknown =>
  payloads?.payloads?.[0] ? defaultPayloadConverter.fromPayload(payloads.payloads[0]) : null;

const failureText = (failure: temporal.api.failure.v1.IFailure | null | undefined): string | null => {
  if (!failure) return null;
  const cause = failure.cause?.message ? ` (cause: ${failure.cause.message})` : '';
  return `${failure.message ?? 'failed'}${cause}`;
};

/** Folds a run's history into its activities (in scheduling order), child runs, result and failure. */
export function summarizeHistory(events: HistoryEvent[]): Pick<RunDetails, 'activities' | 'children' | 'result' | 'failure'> {
  const activities = new Map<string, ActivityStep & { startedAtMs?: number }>();
  const children = new Map<string, ChildRun>();
  let result: unknown = null;
  let failure: string | null = null;
  const at = (e: HistoryEvent) => tsToMs(e.eventTime);
  const finish = (scheduledEventId: unknown, e: HistoryEvent, status: ActivityStep['status'], text: string | null) => {
    const step = activities.get(String(scheduledEventId));
    if (!step) return;
    step.status = status;
    step.failure = text;
    if (step.startedAtMs !== undefined) step.durationMs = at(e) - step.startedAtMs;
  };
  for (const e of events) {
    const id = String(e.eventId);
    if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      activities.set(id, {
        activityId: a.activityId ?? id,
        type: a.activityType?.name ?? '?',
        taskQueue: a.taskQueue?.name ?? null,
        attempts: 0,
        status: 'scheduled',
        scheduledAt: new Date(at(e)).toISOString(),
        durationMs: null,
        failure: null,
      });
    } else if (e.activityTaskStartedEventAttributes) {
      const a = e.activityTaskStartedEventAttributes;
      const step = activities.get(String(a.scheduledEventId));
      if (step) Object.assign(step, { attempts: a.attempt ?? 1, status: 'running', startedAtMs: at(e) });
    } else if (e.activityTaskCompletedEventAttributes) {
      finish(e.activityTaskCompletedEventAttributes.scheduledEventId, e, 'completed', null);
    } else if (e.activityTaskFailedEventAttributes) {
      finish(e.activityTaskFailedEventAttributes.scheduledEventId, e, 'failed', failureText(e.activityTaskFailedEventAttributes.failure));
    } else if (e.activityTaskTimedOutEventAttributes) {
      finish(e.activityTaskTimedOutEventAttributes.scheduledEventId, e, 'timed-out', failureText(e.activityTaskTimedOutEventAttributes.failure));
    } else if (e.activityTaskCanceledEventAttributes) {
      finish(e.activityTaskCanceledEventAttributes.scheduledEventId, e, 'canceled', null);
    } else if (e.startChildWorkflowExecutionInitiatedEventAttributes) {
      const a = e.startChildWorkflowExecutionInitiatedEventAttributes;
      if (a.workflowId) children.set(a.workflowId, { workflowId: a.workflowId, type: a.workflowType?.name ?? '?', status: 'started' });
    } else if (e.childWorkflowExecutionCompletedEventAttributes) {
      setChild(children, e.childWorkflowExecutionCompletedEventAttributes.workflowExecution?.workflowId, 'completed');
    } else if (e.childWorkflowExecutionFailedEventAttributes) {
      setChild(children, e.childWorkflowExecutionFailedEventAttributes.workflowExecution?.workflowId, 'failed');
    } else if (e.childWorkflowExecutionTimedOutEventAttributes || e.childWorkflowExecutionTerminatedEventAttributes || e.childWorkflowExecutionCanceledEventAttributes) {
      const a = e.childWorkflowExecutionTimedOutEventAttributes ?? e.childWorkflowExecutionTerminatedEventAttributes ?? e.childWorkflowExecutionCanceledEventAttributes;
      setChild(children, a?.workflowExecution?.workflowId, 'other');
    } else if (e.workflowExecutionCompletedEventAttributes) {
      result = decode(e.workflowExecutionCompletedEventAttributes.result);
    } else if (e.workflowExecutionFailedEventAttributes) {
      failure = failureText(e.workflowExecutionFailedEventAttributes.failure);
    } else if (e.workflowExecutionTimedOutEventAttributes) {
      failure = 'the run timed out';
    } else if (e.workflowExecutionTerminatedEventAttributes) {
      failure = `terminated: ${e.workflowExecutionTerminatedEventAttributes.reason ?? 'no reason given'}`;
    }
  }
  return {
    activities: [...activities.values()].map(({ startedAtMs: _, ...step }) => step),
    children: [...children.values()],
    result,
    failure,
  };
}

function setChild(children: Map<string, ChildRun>, workflowId: string | null | undefined, status: ChildRun['status']): void {
  const child = workflowId ? children.get(workflowId) : undefined;
  if (child) child.status = status;
}

/** The latest run of `workflowId`: its row, memo, activities, children and outcome. */
export async function showRun(client: Client, workflowId: string): Promise<RunDetails> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  const history = await handle.fetchHistory();
  return { ...toRunRow(description), memo: description.memo ?? {}, ...summarizeHistory(history.events ?? []) };
}
