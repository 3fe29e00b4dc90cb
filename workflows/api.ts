import { executeChild, ParentClosePolicy, proxyActivities, startChild, workflowInfo, type ChildWorkflowHandle } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { batchWorkflowId, type BatchReport } from '../src/shared/batch';
import type { CommandStart } from '../src/shared/project';
import { batch } from './batch';

/**
 * kto's building blocks for a project's own workflows (`kafka-temporal-orchestrator/workflows`):
 * safe inside Temporal's workflow sandbox, so a DAG is ordinary workflow code, e.g.
 *
 * ```ts
 * export async function nightly(): Promise<void> {
 *   const report = await runBatch('latency-p95');
 *   await startCommand('app.notify', { text: `${report.recordsOut} rows` });
 * }
 * ```
 */

const registry = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
});

/**
 * Runs a declared batch pipeline as a child workflow and returns its report. The child's id is
 * the pipeline's (`kto-batch-<name>`), as for a scheduled or manual run, so it never runs twice
 * at once: while another run of the pipeline is in flight, this fails with
 * WorkflowExecutionAlreadyStartedError.
 */
export async function runBatch(pipeline: string): Promise<BatchReport> {
  const options = await registry.batchPipelineOptions(pipeline);
  return executeChild(batch, { workflowId: batchWorkflowId(pipeline), args: [options] });
}

export interface StartCommandOptions {
  /** The command's workflow id derives from it, as for a message's key: the same key starts nothing twice. */
  idempotencyKey?: string;
}

type AnyWorkflow = (...args: unknown[]) => Promise<unknown>;

let commandsStarted = 0;

/**
 * Starts a declared command's workflow, as the dispatcher would for a message: only commands
 * the project (or kto) declares, params validated by the command's schema, a rejected command
 * fails with the reason. The started workflow outlives the caller (parent close policy ABANDON).
 * Without an idempotency key the id derives from the calling workflow and the call's order.
 */
export async function startCommand(command: string, params: unknown, options: StartCommandOptions = {}): Promise<ChildWorkflowHandle<AnyWorkflow>> {
  const start: CommandStart = await registry.resolveCommand({
    command,
    params,
    idempotencyKey: options.idempotencyKey,
    caller: workflowInfo().workflowId,
    sequence: commandsStarted++,
  });
  return startChild<AnyWorkflow>(start.workflowType, {
    ...start.startOptions,
    workflowId: start.workflowId,
    taskQueue: start.taskQueue,
    args: start.args,
    parentClosePolicy: ParentClosePolicy.ABANDON,
  });
}
