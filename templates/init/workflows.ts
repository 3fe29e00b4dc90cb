import { proxyActivities } from '@temporalio/workflow';
import { runBatch, startCommand } from 'kafka-temporal-orchestrator/workflows';
import type * as activities from './activities';

const { formatNotice } = proxyActivities<typeof activities>({ startToCloseTimeout: '1m' });

/** The workflow of the `app.notify_latency` command. */
export async function notifyLatency(params: { pipeline: string; rows: number }): Promise<string> {
  return formatNotice(params);
}

/** A DAG in plain workflow code: run a batch pipeline, then start a command with its result. */
export async function latencyReport(): Promise<{ rows: number; noticeWorkflowId: string }> {
  const report = await runBatch('service-latency');
  const notice = await startCommand('app.notify_latency', { pipeline: report.pipeline, rows: report.recordsOut });
  return { rows: report.recordsOut, noticeWorkflowId: notice.workflowId };
}
