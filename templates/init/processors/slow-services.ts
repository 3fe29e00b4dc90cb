import { defineMap } from 'kafka-temporal-orchestrator';

/** The pipeline's `processorOptions` in kto.config.ts (a type, not an interface, so that it is a JSON value). */
export type SlowServicesOptions = {
  /** Above this p95, an hour of a service counts as slow. */
  thresholdMs: number;
};

/** The slow hours of each service, from service-latency's output. */
export default defineMap<{ service: string; hour: string; p95: number }>({
  transform: (r, ctx) => (r.value.p95 > (ctx.options as SlowServicesOptions).thresholdMs ? { key: r.value.service, value: r.value } : null),
});
