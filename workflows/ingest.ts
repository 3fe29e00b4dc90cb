import { patched, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { ingestWithDefaults, type IngestOptions, type IngestReport } from '../src/shared/ingest';
import { redactUrl } from '../src/shared/redact-url';
import { KTO_PIPELINE, KTO_RECORDS, KTO_TOPIC } from '../src/shared/search-attributes';

/** Extra time the activity gets beyond its window: the last poll and the last produce. */
const WINDOW_SLACK_MS = 60_000;

/**
 * One activity for the whole window, heartbeating with its counts: a dead worker is noticed
 * within the heartbeat timeout, and the retry polls only what is left of the window. Kafka
 * failures are the retried ones; source failures are handled inside the window.
 */
const sourceActivity = (windowMs: number) =>
  proxyActivities<Activities>({
    startToCloseTimeout: windowMs + WINDOW_SLACK_MS,
    heartbeatTimeout: '30s',
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '10s',
      maximumAttempts: 5,
      nonRetryableErrorTypes: ['SourceRejected', 'SourceNotFound', 'InvalidSource'],
    },
  });

/**
 * Polls a source for a window of time and streams its records into a topic (the seed's
 * scheduled Airflow DAG): the pipeline's own source module (`defineSource`), or kto's built-in
 * random-user source for a `url`. Returns counts only.
 */
export async function ingest(options: IngestOptions): Promise<IngestReport> {
  const p = ingestWithDefaults(options);
  upsertSearchAttributes([
    { key: KTO_PIPELINE, value: p.pipeline },
    { key: KTO_TOPIC, value: p.topic },
  ]);
  // Workflow time is replay-safe: the window's end is fixed once, in history.
  const until = Date.now() + p.windowMs;
  // Runs started before the source API poll with the activity's former name (the worker registers both).
  const poll = patched('kto-poll-source') ? sourceActivity(p.windowMs).pollSource : sourceActivity(p.windowMs).pollHttpSource;
  const counts = await poll({ ...p, until });
  upsertSearchAttributes([{ key: KTO_RECORDS, value: counts.produced }]);
  return {
    pipeline: p.pipeline,
    ...(p.source !== undefined && { source: p.source }),
    ...(p.url !== undefined && { url: redactUrl(p.url) }),
    topic: p.topic,
    windowMs: p.windowMs,
    intervalMs: p.intervalMs,
    ...counts,
  };
}
