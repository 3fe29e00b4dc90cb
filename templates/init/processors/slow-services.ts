import { defineMap } from 'kafka-temporal-orchestrator';

/** Above this p95, an hour of a service counts as slow. */
export const SLOW_MS = 900;

/** The slow hours of each service, from service-latency's output. */
export default defineMap<{ service: string; hour: string; p95: number }>({
  transform: (r) => (r.value.p95 > SLOW_MS ? { key: r.value.service, value: r.value } : null),
});
