import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { produceVoltageSample } from '../src/demo/voltage';
import { batchPipelineWithDefaults, batchWorkflowId, type BatchPipelineOptions, type BatchReport } from '../src/shared/batch';
import type { batch } from '../workflows';
import { consumeBaseline, type BaselineResult } from './baseline-consumer';
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
/** Rounds of (count-only baseline, parsing baseline, kto over 1M records), interleaved. */
const ROUNDS = 3;

const TARGETS = {
  /** kto's end-to-end throughput over the count-only consumer's of the same round, median of the rounds. */
  minThroughputRatio: 0.7,
  maxEmptyRunMs: 2_000,
  /** Peak RSS after the 1M batches over peak RSS after the 100k batch (one worker). */
  maxRssRatio: 1.5,
};

interface TimedRun {
  wallMs: number;
  report: BatchReport;
}

const runId = randomBytes(3).toString('hex');
/** Names of this bench run's topics, groups and queues: fresh per run, so runs never share state. */
export const benchName = (what: string) => `bench.${what}.${runId}`;

/** The seed of the voltage records every batch part reads. */
export const SEED = 2006;

/**
 * Creates `topic` and its output topic with `partitions` each, and produces `records` seed
 * voltage records into the first `filled` partitions (record i to partition i % filled).
 */
export async function produceInput(ctx: BenchContext, topic: string, { partitions, records, filled = partitions }: { partitions: number; records: number; filled?: number }) {
  await ctx.kafka.admin.ensureTopics([
    { topic, partitions },
    { topic: `${topic}.out`, partitions },
  ]);
  const started = performance.now();
  const produced = await produceVoltageSample(ctx.kafka, { topic, records, partitions: filled, seed: SEED });
  const ms = performance.now() - started;
  const into = filled === partitions ? `${formatInt(partitions)}` : `${formatInt(filled)} of ${formatInt(partitions)}`;
  ctx.progress(`produced ${formatInt(records)} records to ${into} partitions of ${topic} in ${formatSeconds(ms)} (${formatInt(records / (ms / 1000))} records/s)`);
  return { ...produced, ms };
}

/** A pipeline over `topic` with a group of its own per `label`, so every round reads the whole topic. */
export function pipelineOf(topic: string, label = 'kto'): BatchPipelineOptions {
  return { topic, outputTopic: `${topic}.out`, groupId: `${topic}.${label}` };
}

/** Starts the batch workflow and waits for its report: the wall time a user of `kto batch run` sees. */
export async function runBatch(ctx: BenchContext, taskQueue: string, options: BatchPipelineOptions): Promise<TimedRun> {
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

export async function withWorker<T>(ctx: BenchContext, label: string, fn: (worker: BenchWorker, taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = benchName(label);
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

interface Round {
  countOnly: BaselineResult;
  parsing: BaselineResult;
  kto: TimedRun;
}

async function run(ctx: BenchContext) {
  const big = benchName('voltage-1m');
  const small = benchName('voltage-100k');
  const input = await produceInput(ctx, big, { partitions: PARTITIONS, records: BIG });
  await produceInput(ctx, small, { partitions: PARTITIONS, records: SMALL });

  const readBaseline = async (label: string, parse: boolean) => {
    const result = await consumeBaseline(ctx.kafka, { topic: big, groupId: benchName(label), expected: BIG, parse });
    ctx.progress(`${label}: ${formatInt(result.records)} records in ${formatSeconds(result.wallMs)} (${formatInt(perSecond(result.records, result.wallMs))} records/s)`);
    return result;
  };

  // One long-running worker, as in production: the 100k run first, then the rounds, then the
  // empty runs. Its peak RSS after each shows whether memory grows with the records. The
  // baselines read in this process while the worker idles; each round reads the whole 1M topic
  // three times in a row, so a machine busier at one moment than at another moves all three.
  return withWorker(ctx, 'worker', async (worker, taskQueue) => {
    const startRss = worker.peakRss();
    const timedSmall = await runBatch(ctx, taskQueue, pipelineOf(small));
    expectAll(timedSmall, SMALL, '100k run');
    const smallRun = { ...timedSmall, peakRss: worker.peakRss() };
    ctx.progress(`kto 100k: ${formatSeconds(smallRun.wallMs)}, worker peak RSS ${formatMiB(smallRun.peakRss)}`);

    const rounds: Round[] = [];
    for (let i = 1; i <= ROUNDS; i++) {
      const countOnly = await readBaseline(`baseline-count-${i}`, false);
      const parsing = await readBaseline(`baseline-parse-${i}`, true);
      const kto = await runBatch(ctx, taskQueue, pipelineOf(big, `kto-${i}`));
      expectAll(kto, BIG, `1M run ${i}`);
      ctx.progress(`kto 1M, round ${i}/${ROUNDS}: ${formatSeconds(kto.wallMs)} (${formatInt(perSecond(BIG, kto.wallMs))} records/s)`);
      rounds.push({ countOnly, parsing, kto });
    }
    const peakRss = worker.peakRss();
    const empty: TimedRun[] = [];
    for (let i = 0; i < EMPTY_RUNS; i++) {
      const e = await runBatch(ctx, taskQueue, pipelineOf(big, `kto-${ROUNDS}`));
      expectAll(e, 0, 'empty run');
      empty.push(e);
      ctx.progress(`kto empty run ${i + 1}/${EMPTY_RUNS}: ${formatSeconds(e.wallMs)}`);
    }
    return { input, startRss, smallRun, rounds, peakRss, empty };
  });
}

/** Median, min and max of a series. */
function spread(values: number[]) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

function summarize(m: Awaited<ReturnType<typeof run>>) {
  const rate = (b: { records: number; wallMs: number }) => perSecond(b.records, b.wallMs);
  const rounds = m.rounds.map((r) => ({
    countOnly: rate(r.countOnly),
    parsing: rate(r.parsing),
    kto: perSecond(r.kto.report.recordsIn, r.kto.wallMs),
  }));
  const ratios = rounds.map((r) => r.kto / r.countOnly);
  const ratio = spread(ratios);
  const countOnly = spread(rounds.map((r) => r.countOnly));
  const parsing = spread(rounds.map((r) => r.parsing));
  const kto = spread(rounds.map((r) => r.kto));
  // The step times of the round whose ratio is the median.
  const medianRound = m.rounds[ratios.indexOf([...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)])];
  const emptyMs = m.empty.map((e) => e.wallMs);
  const emptyMedian = median(emptyMs);
  const rssRatio = m.peakRss / m.smallRun.peakRss;
  const steps = medianRound.kto.report.stepMs;
  const rates = (s: ReturnType<typeof spread>) => `${formatInt(s.median)} records/s (${formatInt(s.min)}–${formatInt(s.max)})`;
  const rows: BenchRow[] = [
    {
      metric: `Input: ${formatInt(BIG)} voltage records, ${PARTITIONS} partitions`,
      measured: `produced at ${formatInt(perSecond(BIG, m.input.ms))} records/s`,
    },
    { metric: `Baseline: kafkajs consumer, count only (median of ${ROUNDS} rounds, min–max)`, measured: rates(countOnly) },
    { metric: 'Baseline: kafkajs consumer, JSON.parse and sum each value', measured: rates(parsing) },
    { metric: 'kto batch, 1M records end to end', measured: rates(kto) },
    {
      metric: 'kto / count-only baseline of the same round',
      measured: `${ratio.median.toFixed(2)} × (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})`,
      target: `≥ ${TARGETS.minThroughputRatio} ×`,
      pass: ratio.median >= TARGETS.minThroughputRatio,
    },
    {
      metric: `Step time summed over ${PARTITIONS} partitions, median round (consume / commit / aggregate / produce)`,
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
    { metric: `Worker peak RSS after the ${formatInt(BIG)}-record runs`, measured: formatMiB(m.peakRss) },
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
  const baselineRun = (b: BaselineResult) => ({ wallMs: round(b.wallMs), firstBatchMs: round(b.firstBatchMs), recordsPerSecond: round(rate(b)) });
  const rounded = (s: ReturnType<typeof spread>, digits = 0) => ({ median: round(s.median, digits), min: round(s.min, digits), max: round(s.max, digits) });
  const measurements = {
    targets: TARGETS,
    input: { records: m.input.records, malformed: m.input.malformed, partitions: PARTITIONS, seed: SEED, produceMs: round(m.input.ms) },
    rounds: m.rounds.map((r, i) => ({
      baselineCountOnly: baselineRun(r.countOnly),
      baselineParsing: baselineRun(r.parsing),
      kto1m: { ...runSummary(r.kto), recordsPerSecond: round(rounds[i].kto) },
      throughputRatio: round(ratios[i], 3),
    })),
    recordsPerSecond: { baselineCountOnly: rounded(countOnly), baselineParsing: rounded(parsing), kto1m: rounded(kto) },
    throughputRatio: rounded(ratio, 3),
    kto100k: { ...runSummary(m.smallRun), recordsPerSecond: round(perSecond(SMALL, m.smallRun.wallMs)) },
    emptyRun: { wallMs: emptyMs.map((ms) => round(ms)), medianMs: round(emptyMedian) },
    workerPeakRssMiB: {
      atStart: mib(m.startRss),
      after100k: mib(m.smallRun.peakRss),
      after1m: mib(m.peakRss),
      ratio: round(rssRatio, 3),
    },
  };
  return { rows, measurements };
}

export const batchPart: BenchPart = {
  name: 'batch',
  description:
    `The batch workflow over ${formatInt(BIG)} seed-style voltage records in ${PARTITIONS} partitions against a plain kafkajs ` +
    `consumer on the same topic, in ${ROUNDS} interleaved rounds (count-only consumer, consumer that parses each value, kto; each with a group of its own), ` +
    'reported as the median with min–max; the ratio divides each round\'s kto rate by the same round\'s count-only rate. Plus empty runs and worker peak memory (VmHWM). ' +
    `One \`kto worker\` process runs every kto run in turn, as a long-running worker does: a ${formatInt(SMALL)}-record batch, the ${formatInt(BIG)}-record rounds, then the empty runs.`,
  run: async (ctx) => summarize(await run(ctx)),
};
