import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { BatchReport } from '../../src/shared/batch';
import { createTestPipeline, expectExactlyOnce, startBatch } from '../support/batch-harness';
import { useFaultScenarios } from '../support/fault-scenario';
import { waitFor } from '../support/helpers';
import { killTestService } from '../support/test-stack';

/**
 * Invariant 1 under faults: whatever happens to a worker or the broker, each input record
 * contributes once to what a read_committed consumer of the output sees.
 */
const { env, scenario } = useFaultScenarios('faults');

const PROJECT = { KTO_CONFIG: path.resolve(__dirname, '../fixtures/user-project/kto.config.ts') };
const STEPS = ['consume', 'commit', 'aggregate', 'produce'] as const;
const KILL_POINTS = [...STEPS.map((s) => `before:${s}`), ...STEPS.map((s) => `after:${s}`)];

describe('exactly once under faults', () => {
  // Each with kto's built-in aggregation; from the aggregate step on, where it runs, also with a
  // project's own reduce processor (voltage-peaks in test/fixtures/user-project), which the
  // workers load from the project's kto.config.ts.
  const CASES = KILL_POINTS.flatMap((point) => [[point, 'the built-in aggregation'], ...(/(aggregate|produce)$/.test(point) ? [[point, 'a project processor']] : [])]);
  test.each(CASES)('kill -9 of the worker at %s with %s: another worker finishes, nothing lost or doubled', async (point, processing) => {
    const { id, runConfig, worker } = scenario(`${point}-${processing}`);
    const pipeline = await createTestPipeline(env.kafka, 2, 40);
    await pipeline.produce(2_000);
    const project = processing === 'a project processor' ? PROJECT : undefined;
    const options = project ? { ...pipeline.options, processor: 'voltage-peaks' } : pipeline.options;

    const doomed = worker(point, 'doomed', project);
    const handle = await startBatch(env.client, runConfig, options, `kill-${id}`);
    await doomed.held();
    await doomed.kill('SIGKILL');
    worker(undefined, 'survivor', project);

    const report: BatchReport = await handle.result();
    expect(report.recordsIn).toBeGreaterThanOrEqual(2_000);
    await expectExactlyOnce(runConfig, env.kafka, options);
  });

  test('a frozen worker (SIGSTOP past its heartbeat timeout, then SIGCONT) finds its range committed: its late produce writes nothing twice', async () => {
    const { id, dir, runConfig, worker } = scenario('zombie');
    const pipeline = await createTestPipeline(env.kafka, 1);
    await pipeline.produce(1_000);

    const zombie = worker('before:produce', 'zombie');
    const handle = await startBatch(env.client, runConfig, pipeline.options, `zombie-${id}`);
    await zombie.held();
    await zombie.kill('SIGSTOP');
    worker(undefined, 'survivor');
    const report: BatchReport = await handle.result();
    expect(report.partitionSummaries[0].attempts).toBeGreaterThan(1);

    await zombie.kill('SIGCONT');
    zombie.release();
    const done = path.join(dir, 'zombie', 'done');
    await waitFor(() => existsSync(done), { timeoutMs: 60_000, description: 'the zombie produce to end' });
    expect(readFileSync(done, 'utf8')).toBe('completed'); // it found the range already committed
    await expectExactlyOnce(runConfig, env.kafka, pipeline.options);
  });

  test('kill -9 of the Kafka broker in the middle of a run: the run completes once the broker is back', async () => {
    const { id, runConfig, worker } = scenario('broker');
    const pipeline = await createTestPipeline(env.kafka, 2, 25);
    await pipeline.produce(1_500);

    const w = worker('before:produce');
    const handle = await startBatch(env.client, runConfig, pipeline.options, `broker-${id}`);
    await w.held();
    const stack = await killTestService(env.config.devstack.ports, 'kafka');
    w.release();
    await stack.up();

    const report: BatchReport = await handle.result();
    expect(report.recordsIn).toBe(1_500);
    await expectExactlyOnce(runConfig, env.kafka, pipeline.options);
  });

  test('a run that dies (terminated like a timed-out run) is made good by the next run, with the records that came in between', async () => {
    const { id, runConfig, worker } = scenario('failed-run');
    const pipeline = await createTestPipeline(env.kafka, 2);
    await pipeline.produce(1_000);

    const doomed = worker('before:produce', 'doomed');
    const first = await startBatch(env.client, runConfig, pipeline.options, `failed-${id}`);
    await doomed.held();
    await first.terminate('simulating dagrun_timeout');
    await doomed.kill('SIGKILL');

    await pipeline.produce(500);
    worker(undefined, 'next');
    const report: BatchReport = await (await startBatch(env.client, runConfig, pipeline.options, `next-${id}`)).result();
    expect(report.recordsIn).toBe(1_500);
    await expectExactlyOnce(runConfig, env.kafka, pipeline.options);
  });
});
