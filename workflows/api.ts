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
 *
 * Both call activities that kto's worker registers (the project's registry lives in the worker's
 * process), so the calling workflow must run on a kto worker: the project's `workflowsPath`
 * module, which the worker bundles with kto's workflows. Outside workflow code they throw, as
 * every `@temporalio/workflow` API does.
 */

const registry = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
});

/**
 * Runs a declared batch pipeline as a child workflow and returns its report. The child's id is
 * `kto-batch-<name>`, as for a run of `kto batch run` or one started by an upstream (`after:`):
 * while such a run is in flight, this fails with WorkflowExecutionAlreadyStartedError. A run
 * started by a Temporal Schedule has the scheduled time appended to that id, so it does not
 * block this call; the two runs then meet at the partition children (`kto-batch-<name>-p<n>`),
 * which never run twice at once, and the later run fails for the partitions the other holds.
 * @throws ActivityFailure (cause `PipelineNotFound`) when this worker declares no batch pipeline
 *   of that name; ChildWorkflowFailure when the run fails (e.g. `PartitionsFailed`).
 */
export async function runBatch(pipeline: string): Promise<BatchReport> {
  const options = await registry.batchPipelineOptions(pipeline);
  return executeChild(batch, { workflowId: batchWorkflowId(pipeline), args: [options] });
}

export type { BatchReport };

/** Options of {@link startCommand}. */
export interface StartCommandOptions {
  /**
   * The key of the command's workflow id `<command>:<key>` (unless the command's `idOf` says
   * otherwise), 1 to 255 characters. While a workflow with that id is open, a second start fails with
   * WorkflowExecutionAlreadyStartedError; once it has closed, the same key starts the command
   * again (Temporal's default id reuse policy for children, unlike the dispatcher, which rejects
   * a key it has seen).
   * @default an id derived from the calling workflow's id and the call's order (see {@link startCommand})
   */
  idempotencyKey?: string;
}

type AnyWorkflow = (...args: unknown[]) => Promise<unknown>;

let commandsStarted = 0;

/**
 * Starts a declared command's workflow, as the dispatcher would for a message: only commands
 * the project (or kto) declares, params validated by the command's schema, on the command's
 * task queue with its start options. The started workflow outlives the caller (parent close
 * policy ABANDON); await the returned handle's `result()` to wait for it. The id is
 * `<command>:<key>`, as the dispatcher's; without an idempotency key the key is
 * `<calling workflow id>-<run id>-0-<n>`, n being the call's number among this run's
 * `startCommand` calls (from 0), so a replay gets the same id.
 * @throws ActivityFailure (cause `CommandRejected`, with `unknown-command` or `invalid-params`
 *   and the detail) when the command is not declared or its params or key are invalid;
 *   WorkflowExecutionAlreadyStartedError when a workflow with the id is open.
 */
export async function startCommand(command: string, params: unknown, options: StartCommandOptions = {}): Promise<ChildWorkflowHandle<AnyWorkflow>> {
  const start: CommandStart = await registry.resolveCommand({
    command,
    params,
    idempotencyKey: options.idempotencyKey,
    // The run id too: a retried or continued-as-new caller must not reuse the ids of its earlier run's children.
    caller: `${workflowInfo().workflowId}-${workflowInfo().runId}`,
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
