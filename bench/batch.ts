import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { produceVoltageSample } from '../src/demo/voltage';
import { batchPipelineWithDefaults, batchWorkflowId, type BatchPipelineOptions, type BatchReport } from '../src/shared/batch';
import type { batch } from '../workflows';
import { consumeBaseline } from './baseline-consumer';
import type { BenchContext, BenchPart, BenchRow } from './part';
import { formatInt, formatMiB, formatSeconds, median, round } from './report';
import { startWorker, type BenchWorker } from './worker-process';

/**
 * The batch pipeline against raw kafkajs, in one run on one stack:
 * throughput over 1M records, the cost of a run with nothing new, and whether the worker's
 * peak memory stays flat from 100k to 1M records (bounded memory).
 */

const PARTITIONS = 8;
const BIG = 1_000_000;
const SMALL = 100_000;
const EMPTY_RUNS = 3;
const SEED = 2006;

const TARGETS = {
  /** kto's end-to-end throughput over the bare consumer's. */
  minThroughputRatio: 0.5,
  maxEmptyRunMs: 2_000,
  /** Peak RSS after the 1M batch over peak RSS after the 100k batch (fresh worker each). */
  maxRssRatio: 1.5,
};

interface TimedRun {
  wallMs: number;
  report: BatchReport;
}

const runId = randomBytes(3).toString('hex');
const name = (what: string) => `bench.${what}.${runId}`;

async function produceInput(ctx: BenchContext, topic: string, records: number) {
  await ctx.kafka.admin.ensureTopics([
    { topic, partitions: PARTITIONS },
    { topic: `${topic}.out`, partitions: PARTITIONS },
  ]);
  const started = performance.now();
  const produced = await produceVoltageSample(ctx.kafka, { topic, records, partitions: PARTITIONS, seed: SEED });
  const ms = performance.now() - started;
  ctx.progress(`produced ${formatInt(records)} records to ${topic} in ${formatSeconds(ms)} (${formatInt(records / (ms / 1000))} records/s)`);
  return { ...produced, ms };
}

function pipelineOf(topic: string): BatchPipelineOptions {
  return { topic, outputTopic: `${topic}.out`, groupId: `${topic}.kto` };
}

/** Starts the batch workflow and waits for its report: the wall time a user of `kto batch run` sees. */
async function runBatch(ctx: BenchContext, taskQueue: string, options: BatchPipelineOptions): Promise<TimedRun> {
  const pipeline = batchPipelineWithDefaults(options).pipeline;
  const started = performance.now();
  const handle = await ctx.temporal.workflow.start<typeof batch>('batch', {
    taskQueue,
    workflowId: batchWorkflowId(pipeline),
    args: [options],
    workflowExecutionTimeout: '30m',
  });
  const report = await handle.result();
  return { wallMs: performance.now() - started, report };
}

async function withWorker<T>(ctx: BenchContext, label: string, fn: (worker: BenchWorker, taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = name(label);
  const worker = await startWorker({ env: ctx.env, taskQueue, dir: path.join(ctx.dir, 'workers', label) });
  ctx.progress(`worker ${label} started (pid ${worker.pid}, peak RSS at start ${formatMiB(worker.peakRss())})`);
  try {
    return await fn(worker, taskQueue);
  } finally {
    await worker.stop();
  }
}

function expectAll(run: TimedRun, records: number, what: string): void {
  if (run.report.recordsIn !== records) {
    throw new Error(`${what}: the batch report counts ${run.report.recordsIn} records in, the topic holds ${records}`);
  }
}

const perSecond = (records: number, ms: number) => records / (ms / 1000);

async function run(ctx: BenchContext) {
  const big = name('voltage-1m');
  const small = name('voltage-100k');
  const input = await produceInput(ctx, big, BIG);
  await produceInput(ctx, small, SMALL);

  const readBaseline = async (label: string) => {
    const result = await consumeBaseline(ctx.kafka, { topic: big, groupId: name(label), expected: BIG });
    ctx.progress(`${label}: ${formatInt(result.records)} records in ${formatSeconds(result.wallMs)} (${formatInt(perSecond(result.records, result.wallMs))} records/s)`);
    return result;
  };
  ctx.progress('baseline: plain kafkajs consumer over the 1M topic…');
  const baselineBefore = await readBaseline('baseline-1');

  // One long-running worker, as in production: the 100k run first, then the 1M run, then the
  // empty runs. Its peak RSS after each run shows whether memory grows with the records.
  const { startRss, smallRun, bigRun } = await withWorker(ctx, 'worker', async (worker, taskQueue) => {
    const startRss = worker.peakRss();
    const timedSmall = await runBatch(ctx, taskQueue, pipelineOf(small));
    expectAll(timedSmall, SMALL, '100k run');
    const smallRun = { ...timedSmall, peakRss: worker.peakRss() };
    ctx.progress(`kto 100k: ${formatSeconds(smallRun.wallMs)}, worker peak RSS ${formatMiB(smallRun.peakRss)}`);

    ctx.progress('kto: batch over the 1M topic…');
    const timed = await runBatch(ctx, taskQueue, pipelineOf(big));
    expectAll(timed, BIG, '1M run');
    const peakRss = worker.peakRss();
    ctx.progress(`kto 1M: ${formatSeconds(timed.wallMs)} (${formatInt(perSecond(BIG, timed.wallMs))} records/s), worker peak RSS ${formatMiB(peakRss)}`);
    const empty: TimedRun[] = [];
    for (let i = 0; i < EMPTY_RUNS; i++) {
      const e = await runBatch(ctx, taskQueue, pipelineOf(big));
      expectAll(e, 0, 'empty run');
      empty.push(e);
      ctx.progress(`kto empty run ${i + 1}/${EMPTY_RUNS}: ${formatSeconds(e.wallMs)}`);
    }
    return { startRss, smallRun, bigRun: { ...timed, peakRss, empty } };
  });
  // A second baseline after kto's runs, as the dispatcher part does: the mean of the two evens out
  // a machine that is busier at one moment than at the other.
  const baselineAfter = await readBaseline('baseline-2');
  const baselineRate = (perSecond(baselineBefore.records, baselineBefore.wallMs) + perSecond(baselineAfter.records, baselineAfter.wallMs)) / 2;
  return { input, baselineBefore, baselineAfter, baselineRate, startRss, smallRun, bigRun };
}

function summarize(m: Awaited<ReturnType<typeof run>>) {
  const ktoRate = perSecond(m.bigRun.report.recordsIn, m.bigRun.wallMs);
  const ratio = ktoRate / m.baselineRate;
  const emptyMs = m.bigRun.empty.map((e) => e.wallMs);
  const emptyMedian = median(emptyMs);
  const rssRatio = m.bigRun.peakRss / m.smallRun.peakRss;
  const steps = m.bigRun.report.stepMs;
  const rows: BenchRow[] = [
    {
      metric: `Input: ${formatInt(BIG)} voltage records, ${PARTITIONS} partitions`,
      measured: `produced at ${formatInt(perSecond(BIG, m.input.ms))} records/s`,
    },
    {
      metric: 'Baseline: kafkajs consumer, count only (before / after kto)',
      measured: `${formatInt(m.baselineRate)} records/s (${formatSeconds(m.baselineBefore.wallMs)} / ${formatSeconds(m.baselineAfter.wallMs)})`,
    },
    {
      metric: 'kto batch, 1M records end to end',
      measured: `${formatInt(ktoRate)} records/s (${formatSeconds(m.bigRun.wallMs)})`,
    },
    { metric: 'kto / baseline throughput', measured: `${ratio.toFixed(2)} ×`, target: `≥ ${TARGETS.minThroughputRatio} ×`, pass: ratio >= TARGETS.minThroughputRatio },
    {
      metric: `Step time summed over ${PARTITIONS} partitions (consume / commit / aggregate / produce)`,
      measured: [steps.consume, steps.commit, steps.aggregate, steps.produce].map((ms) => (ms / 1000).toFixed(1)).join(' / ') + ' s',
    },
    {
      metric: `Empty run, median of ${EMPTY_RUNS}`,
      measured: `${formatSeconds(emptyMedian)} (${emptyMs.map((ms) => (ms / 1000).toFixed(2)).join(', ')})`,
      target: `< ${TARGETS.maxEmptyRunMs / 1000} s`,
      pass: emptyMedian < TARGETS.maxEmptyRunMs,
    },
    { metric: 'Worker peak RSS after start', measured: formatMiB(m.startRss) },
    { metric: `Worker peak RSS after the ${formatInt(SMALL)}-record run`, measured: formatMiB(m.smallRun.peakRss) },
    { metric: `Worker peak RSS after the ${formatInt(BIG)}-record run`, measured: formatMiB(m.bigRun.peakRss) },
    { metric: 'RSS(1M) / RSS(100k)', measured: `${rssRatio.toFixed(2)} ×`, target: `< ${TARGETS.maxRssRatio} ×`, pass: rssRatio < TARGETS.maxRssRatio },
  ];
  const mib = (bytes: number) => round(bytes / 2 ** 20, 1);
  const runSummary = (r: TimedRun) => ({
    wallMs: round(r.wallMs),
    recordsIn: r.report.recordsIn,
    recordsOut: r.report.recordsOut,
    malformed: r.report.malformed,
    stepMs: r.report.stepMs,
    partitionDurationsMs: r.report.partitionSummaries.map((s) => ({ partition: s.partition, status: s.status, ...s.durationsMs })),
  });
  const measurements = {
    targets: TARGETS,
    input: { records: m.input.records, malformed: m.input.malformed, partitions: PARTITIONS, seed: SEED, produceMs: round(m.input.ms) },
    baseline: {
      records: BIG,
      runs: [m.baselineBefore, m.baselineAfter].map((b) => ({ wallMs: round(b.wallMs), firstBatchMs: round(b.firstBatchMs), recordsPerSecond: round(perSecond(b.records, b.wallMs)) })),
      meanRecordsPerSecond: round(m.baselineRate),
    },
    kto1m: { ...runSummary(m.bigRun), recordsPerSecond: round(ktoRate), throughputRatio: round(ratio, 3) },
    kto100k: { ...runSummary(m.smallRun), recordsPerSecond: round(perSecond(SMALL, m.smallRun.wallMs)) },
    emptyRun: { wallMs: emptyMs.map((ms) => round(ms)), medianMs: round(emptyMedian) },
    workerPeakRssMiB: {
      atStart: mib(m.startRss),
      after100k: mib(m.smallRun.peakRss),
      after1m: mib(m.bigRun.peakRss),
      ratio: round(rssRatio, 3),
    },
  };
  return { rows, measurements };
}

export const batchPart: BenchPart = {
  name: 'batch',
  description:
    `The batch workflow over ${formatInt(BIG)} seed-style voltage records in ${PARTITIONS} partitions against a plain kafkajs ` +
    'consumer on the same topic (read before and after kto, mean rate), plus empty runs and worker peak memory (VmHWM). One `kto worker` process runs everything in turn, ' +
    `as a long-running worker does: a ${formatInt(SMALL)}-record batch, the ${formatInt(BIG)}-record batch, then the empty runs.`,
  run: async (ctx) => summarize(await run(ctx)),
};
