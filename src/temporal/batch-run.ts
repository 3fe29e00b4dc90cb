import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { batchProgressQuery, type batch, type BatchProgress } from '../../workflows';
import { UserError } from '../runtime/errors';
import type { KtoConfig } from '../runtime/config';
import { batchPipelineWithDefaults, batchWorkflowId, type BatchPipelineOptions, type BatchReport } from '../shared/batch';
import { innermostMessage } from '../shared/errors';

/**
 * Starting a batch run now (`kto batch run`, `kto demo`) and following it to its report.
 * One run per pipeline at a time: a manual run gets the pipeline's fixed workflow id with the
 * FAIL conflict policy, and scheduled runs (whose ids carry a timestamp suffix) are found
 * through visibility before starting.
 */

/** Link to a workflow in the Temporal UI of the local stack. */
export function temporalUiUrl(config: Pick<KtoConfig, 'temporal' | 'devstack'>, workflowId: string): string {
  const ns = encodeURIComponent(config.temporal.namespace);
  return `http://127.0.0.1:${config.devstack.ports.temporalUi}/namespaces/${ns}/workflows/${encodeURIComponent(workflowId)}`;
}

export class BatchAlreadyRunningError extends UserError {
  constructor(
    readonly pipeline: string,
    readonly runningWorkflowId: string,
    readonly uiUrl: string,
  ) {
    super(
      `pipeline "${pipeline}" already has a run in flight: workflow ${runningWorkflowId} (${uiUrl}). ` +
        'Two runs of one pipeline would race for the same offsets, so this one was not started.',
      `wait for that run to finish (or cancel it in the Temporal UI), then run again`,
    );
    this.name = 'BatchAlreadyRunningError';
  }
}

export class BatchRunFailedError extends UserError {
  constructor(
    readonly workflowId: string,
    readonly uiUrl: string,
    readonly reason: string,
  ) {
    super(
      `batch run ${workflowId} failed: ${reason}`,
      `see the run's history at ${uiUrl}; committed partitions stay committed and the next run picks up the rest`,
    );
    this.name = 'BatchRunFailedError';
  }
}

/** A scheduled run's id is the schedule's action id plus `-<scheduled time>`. */
const SCHEDULED_SUFFIX = /^-\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** Ids of the running `batch` workflows of a pipeline: the manual one and any scheduled one. */
export async function findRunningBatches(client: Client, pipeline: string): Promise<string[]> {
  const base = batchWorkflowId(pipeline);
  const quoted = base.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  const ids: string[] = [];
  const query = `WorkflowType = 'batch' AND ExecutionStatus = 'Running' AND WorkflowId STARTS_WITH '${quoted}'`;
  for await (const w of client.workflow.list({ query })) {
    // The prefix also matches other pipelines whose names start with this one's.
    if (w.workflowId === base || SCHEDULED_SUFFIX.test(w.workflowId.slice(base.length))) ids.push(w.workflowId);
  }
  return ids;
}

export interface StartBatchRunOptions {
  client: Client;
  config: Pick<KtoConfig, 'temporal' | 'devstack'>;
  pipeline: BatchPipelineOptions;
  /** Run timeout (Airflow's dagrun_timeout). @default none */
  runTimeout?: Duration;
}

export interface BatchRun {
  pipeline: string;
  workflowId: string;
  runId: string;
  uiUrl: string;
  handle: WorkflowHandle<typeof batch>;
}

/**
 * Starts the `batch` workflow for a pipeline now.
 * @throws BatchAlreadyRunningError when a manual or scheduled run of the pipeline is in flight.
 */
export async function startBatchRun({ client, config, pipeline, runTimeout }: StartBatchRunOptions): Promise<BatchRun> {
  const name = batchPipelineWithDefaults(pipeline).pipeline;
  const workflowId = batchWorkflowId(name);
  const [running] = await findRunningBatches(client, name);
  if (running) throw new BatchAlreadyRunningError(name, running, temporalUiUrl(config, running));
  try {
    const handle = await client.workflow.start<typeof batch>('batch', {
      workflowId,
      taskQueue: config.temporal.taskQueue,
      args: [{ ...pipeline, pipeline: name }],
      workflowIdConflictPolicy: 'FAIL',
      workflowRunTimeout: runTimeout,
    });
    return { pipeline: name, workflowId, runId: handle.firstExecutionRunId, uiUrl: temporalUiUrl(config, workflowId), handle };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new BatchAlreadyRunningError(name, workflowId, temporalUiUrl(config, workflowId));
    throw err;
  }
}

export interface WaitForBatchOptions {
  /** Receives the workflow's progress after every poll that answered. */
  onProgress?: (progress: BatchProgress) => void;
  /** @default 500 */
  pollIntervalMs?: number;
}


/**
 * Follows a run to its end, polling its progress query meanwhile.
 * @throws BatchRunFailedError when the run fails, times out or is cancelled.
 */
export async function waitForBatchRun(run: BatchRun, options: WaitForBatchOptions = {}): Promise<BatchReport> {
  const interval = options.pollIntervalMs ?? 500;
  let finished = false;
  const poll = (async () => {
    while (!finished) {
      // Before the first workflow task there is no query handler yet: skip that poll.
      const progress = await run.handle.query(batchProgressQuery).catch(() => undefined);
      if (progress && !finished) options.onProgress?.(progress);
      await sleep(interval);
    }
  })();
  try {
    return await run.handle.result();
  } catch (err) {
    if (err instanceof WorkflowFailedError) throw new BatchRunFailedError(run.workflowId, run.uiUrl, innermostMessage(err) || err.message);
    throw err;
  } finally {
    finished = true;
    await poll;
  }
}
