import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/runtime/config';
import { createKafkaIo } from '../../src/kafka';
import { createLogger } from '../../src/runtime/logger';
import { createStagingWriter, readStaging } from '../../src/steps/staging';
import { createStepRunner, type StepRunner } from '../../src/steps/runner';

const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-steps-test-'));
const config = loadConfig({ KTO_KAFKA_BROKERS: '127.0.0.1:1' });
const RANGE = { pipeline: 'p', topic: 't', partition: 0, from: '0', to: '3' };
// Never connected: the aggregate step only reads and writes files.
const kafka = createKafkaIo(config.kafka, createLogger({ level: 'silent' }));
const runners: StepRunner[] = [];
afterAll(async () => {
  await Promise.all(runners.map((r) => r.close()));
  await kafka.close();
  rmSync(dir, { recursive: true, force: true });
});

function runner(threads: number, heapMb = 160): StepRunner {
  const r = createStepRunner({ kafka, kafkaConfig: config.kafka, logLevel: 'silent', threads, heapMb });
  runners.push(r);
  return r;
}

async function stage(name: string, values: string[]): Promise<string> {
  const file = path.join(dir, name);
  const writer = await createStagingWriter(file);
  await writer.write(values.map((v, i) => ({ offset: BigInt(i), value: Buffer.from(v) })));
  await writer.close();
  return file;
}

async function readValues(file: string): Promise<string[]> {
  const out: string[] = [];
  for await (const rows of readStaging(file)) for (const r of rows) out.push(`${r.note ?? ''}${r.value?.toString() ?? ''}`);
  return out;
}

const reading = (minute: number, voltage: number | string) => JSON.stringify({ datetime: `23/12/2006 16:${String(minute).padStart(2, '0')}:00`, voltage });

describe('step runner', () => {
  it('aggregates on a thread exactly as inline, with progress', async () => {
    const input = await stage('records', [reading(1, 239.5), reading(2, 240.5), '{"broken', reading(3, 'x')]);
    const results = [];
    for (const [label, threads] of [['inline', 0], ['thread', 2]] as const) {
      const outputFile = path.join(dir, `${label}.output`);
      const errorsFile = path.join(dir, `${label}.errors`);
      const progress: unknown[] = [];
      const result = await runner(threads).run('aggregate', { aggregation: undefined, context: RANGE, file: input, outputFile, errorsFile }, (p) => progress.push(p));
      results.push({ result, output: await readValues(outputFile), errors: (await readValues(errorsFile)).map((e) => e.split(':')[0]) });
      expect(progress).toContainEqual({ records: 4 });
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[0].result).toEqual({ groups: 1, accepted: 2, malformed: 2 });
    expect(results[0].errors).toEqual(['invalid-json', 'non-numeric-value']);
  });

  it('passes a failing step’s error back with its message, and the thread stays usable', async () => {
    const r = runner(1);
    const missing = path.join(dir, 'no-such-file');
    await expect(r.run('aggregate', { aggregation: undefined, context: RANGE, file: missing, outputFile: `${missing}.o`, errorsFile: `${missing}.e` }, () => undefined)).rejects.toThrow(/ENOENT/);
    const input = await stage('after-failure', [reading(1, 1)]);
    await expect(
      r.run('aggregate', { aggregation: undefined, context: RANGE, file: input, outputFile: `${input}.o`, errorsFile: `${input}.e` }, () => undefined),
    ).resolves.toMatchObject({ accepted: 1 });
  });

  it('runs one step at a time per thread, the others in the order they came', async () => {
    const r = runner(1);
    const events: string[] = [];
    const inputs = await Promise.all(['a', 'b', 'c'].map((name) => stage(`queued-${name}`, [reading(1, 1), reading(2, 2)])));
    await Promise.all(
      inputs.map((file, i) =>
        r
          .run('aggregate', { aggregation: undefined, context: RANGE, file, outputFile: `${file}.o`, errorsFile: `${file}.e` }, () => events.push(`progress ${i}`))
          .then(() => events.push(`done ${i}`)),
      ),
    );
    expect(events).toEqual(['progress 0', 'done 0', 'progress 1', 'done 1', 'progress 2', 'done 2']);
  });

  it('fails the running and the waiting steps when it closes', async () => {
    const r = runner(1);
    const file = await stage('closing', [reading(1, 1)]);
    const steps = Promise.allSettled(
      [0, 1].map(() => r.run('aggregate', { aggregation: undefined, context: RANGE, file, outputFile: `${file}.o`, errorsFile: `${file}.e` }, () => undefined)),
    );
    await r.close();
    const outcomes = await steps;
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect((outcomes[1] as PromiseRejectedResult).reason.message).toMatch(/closed before the step started/);
  });

  it('fails a step that outgrows the thread heap with a message naming the limit, then replaces the thread', async () => {
    // Count-distinct keeps every distinct value: 400,000 of them do not fit in 32 MiB.
    const values = Array.from({ length: 400_000 }, (_, i) => JSON.stringify({ datetime: '23/12/2006 16:52:00', voltage: 1, id: `reading-${i}-${'x'.repeat(40)}` }));
    const input = await stage('distinct', values);
    const r = runner(1, 32);
    const aggregation = { metrics: ['count-distinct' as const], distinctField: 'id' };
    await expect(r.run('aggregate', { aggregation, context: RANGE, file: input, outputFile: `${input}.o`, errorsFile: `${input}.e` }, () => undefined)).rejects.toThrow(
      /ran out of memory \(heap limit 32 MiB\).*KTO_STEP_HEAP_MB/,
    );
    const small = await stage('small', [reading(1, 1)]);
    await expect(
      r.run('aggregate', { aggregation: undefined, context: RANGE, file: small, outputFile: `${small}.o`, errorsFile: `${small}.e` }, () => undefined),
    ).resolves.toMatchObject({ accepted: 1 });
  }, 60_000);
});
