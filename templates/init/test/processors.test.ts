import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runProcessor } from 'kafka-temporal-orchestrator/testing';
import serverErrors from '../processors/server-errors';
import serviceLatency from '../processors/service-latency';
import { accessLog, expectedP95 } from './access-log';

// Unit tests: processors run in memory through kto's engine, no stack needed.

test('service-latency: p95 per service per hour; a request without a latency is a dead letter', async () => {
  const hits = accessLog(600);
  // JSON turns NaN into null, as a producer would.
  const { outputs, errors } = await runProcessor(serviceLatency, hits);
  const got = new Map(outputs.map((o) => [o.key, (o.value as { p95: number }).p95]));
  assert.deepEqual(got, expectedP95(hits));
  assert.equal(errors.length, 12);
  assert.match(errors[0].reason, /^bad-latency: null/);
});

test('server-errors-by-path: 5xx only, keyed by lower-case path', async () => {
  const { outputs, errors } = await runProcessor(serverErrors, accessLog(90));
  assert.equal(errors.length, 0);
  assert.equal(outputs.length, 10);
  assert.deepEqual(outputs[0], { key: '/items/0', value: { service: 'api', at: '2026-11-20T10:00:00Z', status: 503 }, headers: { 'x-status': '503' } });
});
