import type { Hit } from '../processors/service-latency';

/** A deterministic access log over two hours: every 50th request has no usable latency. */
export function accessLog(count: number): Hit[] {
  return Array.from({ length: count }, (_, i) => ({
    service: ['api', 'web', 'auth'][i % 3],
    at: `2026-11-20T${i % 2 === 0 ? '10' : '11'}:${String(i % 60).padStart(2, '0')}:00Z`,
    // api is the slow service: its p95 is near 950 ms, web's near 475, auth's near 760.
    latencyMs: i % 50 === 49 ? Number.NaN : Math.round(((i * 37) % 1_000) * [1, 0.5, 0.8][i % 3]),
    path: `/Items/${i % 4}`,
    status: i % 9 === 0 ? 503 : 200,
  }));
}

/** p95 by nearest rank, computed the plain way: sort and index. */
export function p95(latencies: number[]): number {
  const sorted = [...latencies].sort((a, b) => a - b);
  return sorted[Math.ceil(0.95 * sorted.length) - 1];
}

/** The expected p95 per service and hour, keyed `service|hour`. */
export function expectedP95(hits: Hit[]): Map<string, number> {
  const groups = new Map<string, number[]>();
  for (const h of hits) {
    if (!Number.isInteger(h.latencyMs)) continue;
    const key = `${h.service}|${h.at.slice(0, 13)}`;
    groups.set(key, [...(groups.get(key) ?? []), h.latencyMs]);
  }
  return new Map([...groups].map(([key, latencies]) => [key, p95(latencies)]));
}
