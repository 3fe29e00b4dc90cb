import { Counter, Histogram, Registry } from 'prom-client';

/** The dispatcher's Prometheus metrics, on a registry of its own (served by src/runtime/metrics.ts). */
export function createDispatcherMetrics() {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    consumed: new Counter({ name: 'kto_commands_consumed_total', help: 'Command records taken from Kafka', registers }),
    started: new Counter({ name: 'kto_commands_started_total', help: 'Workflows started for commands', labelNames: ['command'] as const, registers }),
    batched: new Counter({ name: 'kto_commands_batched_total', help: 'Commands started in a batch workflow (micro-batching)', labelNames: ['command'] as const, registers }),
    duplicate: new Counter({
      name: 'kto_commands_duplicate_total',
      help: 'Commands whose workflow id had already run or was running (replays, repeated idempotency keys)',
      registers,
    }),
    deadLettered: new Counter({
      name: 'kto_commands_dead_lettered_total',
      help: 'Commands written to the dead-letter topic',
      labelNames: ['reason'] as const,
      registers,
    }),
    skipped: new Counter({
      name: 'kto_commands_skipped_total',
      help: 'Commands older than the namespace retention on a partition without a committed offset: not started',
      registers,
    }),
    startLatency: new Histogram({
      name: 'kto_command_start_latency_seconds',
      help: 'From the record timestamp to the acknowledged workflow start',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    }),
  };
}

export type DispatcherMetrics = ReturnType<typeof createDispatcherMetrics>;
