import { defineReduce, RecordError } from 'kafka-temporal-orchestrator';

export interface Hit {
  service: string;
  /** ISO time of the request. */
  at: string;
  latencyMs: number;
  path: string;
  status: number;
}

/** Requests per whole millisecond: bounded by the distinct latencies, not by the request count. */
type Histogram = Record<number, number>;

/** p95 latency (nearest rank) per service per hour. A record without a usable latency is a dead letter. */
export default defineReduce<Hit, Histogram>({
  key: (r) => `${r.value.service}|${r.value.at.slice(0, 13)}`,
  init: () => ({}),
  add(histogram, r) {
    const ms = r.value.latencyMs;
    if (!Number.isInteger(ms) || ms < 0) throw new RecordError(`bad-latency: ${JSON.stringify(ms)}`);
    histogram[ms] = (histogram[ms] ?? 0) + 1;
    return histogram;
  },
  merge(a, b) {
    for (const [ms, n] of Object.entries(b)) a[Number(ms)] = (a[Number(ms)] ?? 0) + n;
    return a;
  },
  emit(histogram, key) {
    const [service, hour] = key.split('|');
    const latencies = Object.keys(histogram).map(Number).sort((x, y) => x - y);
    const count = latencies.reduce((n, ms) => n + histogram[ms], 0);
    let seen = 0;
    const p95 = latencies.find((ms) => (seen += histogram[ms]) >= Math.ceil(0.95 * count));
    return { service, hour, count, p95 };
  },
});
