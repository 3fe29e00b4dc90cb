import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../runtime/logger';

/**
 * The worker's Prometheus metrics (served by src/runtime/metrics.ts on KTO_METRICS_PORT) and the
 * activity interceptor that times every activity and logs it with its workflow and Kafka ids.
 */

/** What the Kafka activities report; a no-op when a test builds activities without metrics. */
export interface PipelineMetrics {
  /** Records read from an input partition into staging (a retried read counts again). */
  consumed(pipeline: string, topic: string, records: number): void;
  /** Aggregate records and dead letters that landed in one committed transaction. */
  produced(pipeline: string, outputTopic: string, records: number, malformed: number): void;
  /** A pipeline whose group lag the worker's lag gauge should report from now on (see lag-gauge.ts). */
  consuming(pipeline: string, groupId: string, topic: string): void;
}

export const NO_PIPELINE_METRICS: PipelineMetrics = { consumed: () => undefined, produced: () => undefined, consuming: () => undefined };

/** `consuming` tells the lag gauge which pipelines to read; without one, it does nothing. */
export function createWorkerMetrics(registry: Registry = new Registry(), onConsuming: PipelineMetrics['consuming'] = () => undefined) {
  const registers = [registry];
  const consumed = new Counter({ name: 'kto_records_consumed_total', help: 'Input records read into staging', labelNames: ['pipeline', 'topic'] as const, registers });
  const produced = new Counter({
    name: 'kto_records_produced_total',
    help: 'Aggregate records written to the output topic (committed)',
    labelNames: ['pipeline', 'topic'] as const,
    registers,
  });
  const malformed = new Counter({
    name: 'kto_records_malformed_total',
    help: 'Malformed input records written to the error topic (committed)',
    labelNames: ['pipeline'] as const,
    registers,
  });
  const lag = new Gauge({
    name: 'kto_consumer_lag_records',
    help: 'Records of an input partition the pipeline\'s consumer group has not committed yet (high watermark - committed offset), refreshed every KTO_LAG_REFRESH_SECONDS',
    labelNames: ['pipeline', 'topic', 'partition'] as const,
    registers,
  });
  const activityDuration = new Histogram({
    name: 'kto_activity_duration_seconds',
    help: 'Activity attempts by type and outcome',
    labelNames: ['activity', 'outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers,
  });

  const pipeline: PipelineMetrics = {
    consumed: (p, topic, records) => consumed.inc({ pipeline: p, topic }, records),
    produced: (p, topic, records, bad) => {
      produced.inc({ pipeline: p, topic }, records);
      malformed.inc({ pipeline: p }, bad);
    },
    consuming: onConsuming,
  };
  const setLag = (p: string, topic: string, partition: number, records: number) => lag.set({ pipeline: p, topic, partition: String(partition) }, records);
  return { registry, pipeline, activityDuration, setLag };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** The Kafka coordinates of an activity's input, when it has them (batch steps do, email does not). */
function kafkaFields(args: unknown[]): Record<string, unknown> {
  const input = args[0];
  if (!input || typeof input !== 'object') return {};
  const { pipeline, topic, partition } = input as Record<string, unknown>;
  return Object.fromEntries(Object.entries({ pipeline, topic, partition }).filter(([, v]) => typeof v === 'string' || typeof v === 'number'));
}

/**
 * Times each activity attempt into `kto_activity_duration_seconds` and logs its end on a pino
 * child carrying workflow id, run id, activity, attempt and the input's topic and partition,
 * so a log line can be traced back to its run in the Temporal UI.
 */
export function telemetryInterceptor(metrics: WorkerMetrics, logger: Logger): ActivityInterceptorsFactory {
  const base = logger.child({ namespace: 'activity' });
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const { info } = ctx;
        const log = base.child({
          workflowId: info.workflowExecution?.workflowId,
          runId: info.workflowExecution?.runId,
          activity: info.activityType,
          attempt: info.attempt,
          ...kafkaFields(input.args),
        });
        const stop = metrics.activityDuration.startTimer({ activity: info.activityType });
        log.debug('activity started');
        try {
          const result = await next(input);
          const seconds = stop({ outcome: 'completed' });
          log.info({ durationMs: Math.round(seconds * 1000) }, 'activity completed');
          return result;
        } catch (err) {
          const seconds = stop({ outcome: 'failed' });
          log.warn({ durationMs: Math.round(seconds * 1000), err: err instanceof Error ? err.message : String(err) }, 'activity failed');
          throw err;
        }
      },
    },
  });
}
