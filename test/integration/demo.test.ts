import { uniqueTopic } from '../support/helpers';
import { runKto } from '../support/run-cli';
import { SHARED_CACHE_DIR } from '../support/test-stack';

/**
 * `kto demo` (the README's first command, minus the install) on the test stack: sample in,
 * batch run, daily means out, an alert mailed through the dispatcher; a second demo writes
 * no sample again and finds nothing new.
 */
test('kto demo runs the batch, prints the daily means and mails an alert; a second demo finds nothing new', async () => {
  // The test stack keeps its downloads in the shared cache; `kto dev up` inside the demo must find them there.
  const env = { KTO_DEVSTACK_CACHE_DIR: SHARED_CACHE_DIR, KTO_TEMPORAL_TASK_QUEUE: uniqueTopic('demo-q'), KTO_DISPATCHER_TOPIC: uniqueTopic('demo-commands') };
  const first = await runKto(['demo', '--records', '4000'], env, 300_000);
  expect(first.stderr).not.toMatch(/^kto: /m);
  expect(first.code).toBe(0);
  expect(first.stdout).toMatch(/3\/6 wrote 4,000 voltage readings/);
  expect(first.stdout).toMatch(/5\/6 output: daily mean voltage \(V\) per input partition, [1-9]\d* records/);
  expect(first.stdout).toMatch(/│ \d{4}-\d{2}-\d{2} │ \d{3}\.\d{2} /);
  expect(first.stdout).toMatch(/mail arrived: "voltage-daily: \d+ daily means ready" to ops@example\.com/);

  const second = await runKto(['demo', '--records', '4000'], env, 300_000);
  expect(second.code).toBe(0);
  expect(second.stdout).toMatch(/already holds 4,000 records: not writing the sample again/);
  expect(second.stdout).toMatch(/mail arrived/);
}, 600_000);
