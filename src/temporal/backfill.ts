import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import type { backfill } from '../../workflows';
import { UserError } from '../runtime/errors';
import type { KtoConfig } from '../runtime/config';
import { backfillWorkflowId, batchPipelineWithDefaults, type BackfillInput, type BackfillReport, type BatchPipelineOptions } from '../shared/batch';
import { innermostMessage } from '../shared/errors';
import { temporalUiUrl } from './batch-run';

/**
 * `kto batch backfill` and `kto batch rerun --failed-only`, client side: starting a backfill
 * under its own id, and reading back which partitions of a failed run failed.
 */

/**
 * The id a backfill gets without `--id`: its bounds (times as compact UTC, offsets as they are)
 * and partitions, so the same request names the same backfill and lands once.
 */
export function defaultBackfillId(from: string, to: string, partitions?: number[]): string {
  const bound = (b: string) => (/^\d+$/.test(b) ? b : new Date(b).toISOString().replace(/\.000Z$/, 'Z').replace(/[-:]/g, ''));
  return `${bound(from)}-${bound(to)}${partitions ? `-p${partitions.join('.')}` : ''}`;
}

/** Checks a backfill bound where a person typed it: an offset or a time Date.parse reads. */
export function checkBackfillBound(value: string, flag: string): void {
  if (/^\d+$/.test(value) || !Number.isNaN(Date.parse(value))) return;
  throw new UserError(`${flag} must be an ISO time or an offset, got "${value}".`, `e.g. ${flag} 2026-12-01T00:00:00Z, or ${flag} 1200`);
}

export interface StartBackfillOptions {
  client: Client;
  config: Pick<KtoConfig, 'temporal' | 'devstack'>;
  input: BackfillInput;
}

/** Starts a backfill and waits for its report; refused while a backfill with the same id is in flight. */
export async function runBackfill({ client, config, input }: StartBackfillOptions): Promise<{ workflowId: string; uiUrl: string; report: BackfillReport }> {
  const name = batchPipelineWithDefaults(input.pipeline).pipeline;
  const workflowId = backfillWorkflowId(name, input.id);
  const uiUrl = temporalUiUrl(config, workflowId);
  const handle = await client.workflow
    .start<typeof backfill>('backfill', {
      workflowId,
      taskQueue: config.temporal.taskQueue,
      args: [{ ...input, pipeline: { ...input.pipeline, pipeline: name } }],
      workflowIdConflictPolicy: 'FAIL',
    })
    .catch((err: unknown) => {
      if (err instanceof WorkflowExecutionAlreadyStartedError) throw new UserError(`backfill "${input.id}" of pipeline "${name}" is already running (${uiUrl}).`, 'wait for it to end; running it again afterwards lands nothing twice');
      throw err;
    });
  try {
    return { workflowId, uiUrl, report: await handle.result() };
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      throw new UserError(
        `backfill ${workflowId} failed: ${innermostMessage(err) || err.message}`,
        `see its history at ${uiUrl}; partitions that landed stay landed, and the same --id run again lands only the rest`,
      );
    }
    throw err;
  }
}

/**
 * The input of a failed batch run, restricted to the partitions that failed in it.
 * Refused when the run is still going, did not fail, or failed before its partitions ran.
 */
export async function failedPartitionsRerun(client: Client, workflowId: string): Promise<BatchPipelineOptions> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) throw new UserError(`no workflow "${workflowId}" in Temporal.`, 'take the id of a failed batch run from `kto runs list` or the Temporal UI');
    throw err;
  });
  if (description.type !== 'batch') throw new UserError(`workflow "${workflowId}" is a ${description.type} workflow, not a batch run.`, 'give the id of a failed batch run');
  const status = description.status.name;
  if (status === 'RUNNING') throw new UserError(`batch run "${workflowId}" is still running.`, 'wait for it to end; rerun its failed partitions only if it fails');
  if (status !== 'FAILED') throw new UserError(`batch run "${workflowId}" did not fail (${status.toLowerCase()}): there are no failed partitions to rerun.`, `start a new run with kto batch run instead`);
  const failure = await handle.result().then(
    () => undefined,
    (err: unknown) => (err instanceof WorkflowFailedError ? err.cause : undefined),
  );
  if (!(failure instanceof ApplicationFailure) || failure.type !== 'PartitionsFailed') {
    throw new UserError(`batch run "${workflowId}" failed before its partitions ran (${failure?.message ?? 'no failure recorded'}).`, 'fix the cause, then start a whole run with kto batch run');
  }
  const failed = (failure.details?.[0] as { partition: number }[]).map((f) => f.partition).sort((a, b) => a - b);
  const history = await handle.fetchHistory();
  // The run's own input, so a run started from flags reruns with the same pipeline as a named one.
  const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!input) throw new UserError(`batch run "${workflowId}" has no recorded input.`, 'start a whole run with kto batch run');
  return { ...defaultPayloadConverter.fromPayload<BatchPipelineOptions>(input), partitions: failed };
}
