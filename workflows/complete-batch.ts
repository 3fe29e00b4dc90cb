import { proxyActivities, sleep, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { CompleteBatchInput, CompleteBatchSummary } from '../src/shared/complete-batch';

/**
 * Kafka step that reads the batch and lands its output. It heartbeats every second, so a
 * dead worker is noticed after `workerLossTimeoutMs` and the step re-runs on another worker,
 * re-reading the batch from Kafka (nothing is kept between attempts but the idempotency marker).
 */
const batchIo = (heartbeatMs: number) =>
  proxyActivities<Activities>({
    startToCloseTimeout: '30m',
    heartbeatTimeout: heartbeatMs,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 20 },
  });

/**
 * Processes one batch event (README "Complete batches"): waits until the batch is complete in
 * the data topic, then hands it to its handler and writes the output exactly once for this
 * run. The run's id is the event record's coordinates, so a redelivered event record starts
 * nothing, while a re-published event (a new record) is a reprocess. Persistent problems
 * (bad records, missing source, the deadline) land on the error topic and the run completes:
 * the event is acknowledged either way.
 */
export async function completeBatch(input: CompleteBatchInput): Promise<CompleteBatchSummary> {
  const runId = workflowInfo().workflowId;
  const io = batchIo(input.workerLossTimeoutMs);
  const deadline = Date.now() + input.deadlineMs;
  upsertMemo({ eventId: input.event.eventId, capacity: input.event.capacity, source: input.event.sourceDescriptor });
  for (let passes = 1; ; passes++) {
    const final = Date.now() >= deadline;
    const result = await io.processCompleteBatch({ ...input, runId, final });
    if (result.status !== 'incomplete') {
      upsertMemo({ status: result.status, reason: result.reason ?? null, kept: result.kept, duplicates: result.duplicates });
      return { ...result, eventId: input.event.eventId, passes };
    }
    await sleep(Math.max(1, Math.min(input.pollIntervalMs, deadline - Date.now())));
  }
}
