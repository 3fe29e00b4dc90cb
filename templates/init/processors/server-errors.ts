import { defineMap, RecordError } from 'kafka-temporal-orchestrator';
import type { Hit } from './service-latency';

/** Server errors only, re-keyed by path (lower case), with the status in a header. */
export default defineMap<Hit>({
  transform(r) {
    if (typeof r.value.path !== 'string') throw new RecordError('missing-path');
    if (r.value.status < 500) return null;
    return { key: r.value.path.toLowerCase(), value: { service: r.value.service, at: r.value.at, status: r.value.status }, headers: { 'x-status': String(r.value.status) } };
  },
});
