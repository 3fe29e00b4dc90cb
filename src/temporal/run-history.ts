import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { KTO_PIPELINE } from '../shared/search-attributes';

/** Closed runs that count as failed for an alert's "in a row"; a completed run ends the streak. */
const FAILED = new Set(['FAILED', 'TIMED_OUT']);

/**
 * How many `batch` runs of a pipeline failed or timed out in a row just before the run `runId`
 * (which is excluded): the closed runs newest first, counted until the last completed one.
 * Cancelled and terminated runs (someone stopped them) neither count nor end the streak.
 * Reads Temporal's visibility, which lags a run's close by up to about a second.
 */
export async function failedRunsBefore(client: Client, pipeline: string, runId: string): Promise<number> {
  const quoted = pipeline.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  const query = `WorkflowType = 'batch' AND ${KTO_PIPELINE.name} = '${quoted}' AND ExecutionStatus != 'Running'`;
  const closed: WorkflowExecutionInfo[] = [];
  for await (const run of client.workflow.list({ query })) if (run.runId !== runId) closed.push(run);
  closed.sort((a, b) => (b.closeTime?.getTime() ?? 0) - (a.closeTime?.getTime() ?? 0));
  let failed = 0;
  for (const run of closed) {
    if (run.status.name === 'COMPLETED') break;
    if (FAILED.has(run.status.name)) failed++;
  }
  return failed;
}
