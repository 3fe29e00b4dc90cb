import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { batchPipelineWithDefaults, batchWorkflowId, SMALL_PARTITION_OFFSETS, type BatchPipelineOptions } from '../src/shared/batch';
import { benchName, pipelineOf, produceInput, runBatch, SEED, withWorker } from './batch';
import type { BenchContext, BenchPart, BenchRow } from './part';
import { formatInt, formatSeconds, round } from './report';

/**
 * One batch run over 1,024 partitions on the bench stack, end to end with a real worker: wall
 * time, the parent workflow's history (events, bytes, child starts, largest event), and a first
 * run of a topic whose upper half of partitions is empty (how many children it starts).
 */

const PARTITIONS = 1_024;
const PER_PARTITION = 200;

const TARGETS = {
  maxWallMs: 45_000,
};

/** The parent's history: its size as Temporal stores it, child starts, and its largest event (the result, usually). */
async function historyOf(ctx: BenchContext, options: BatchPipelineOptions) {
  const history = await ctx.temporal.workflow.getHandle(batchWorkflowId(batchPipelineWithDefaults(options).pipeline)).fetchHistory();
  const events = history.events ?? [];
  const sizes = events.map((e) => temporal.api.history.v1.HistoryEvent.encode(e).finish().length);
  const largest = Math.max(...sizes);
  const childInputs = events.flatMap((e) => {
    const payload = e.startChildWorkflowExecutionInitiatedEventAttributes?.input?.payloads?.[0];
    return payload ? [defaultPayloadConverter.fromPayload<{ partition?: number; group?: number[] }>(payload)] : [];
  });
  return {
    events: events.length,
    bytes: temporal.api.history.v1.History.encode(history).finish().length,
    childStarts: childInputs.length,
    /** Partitions a child ran: its own, or one of a group child's. */
    partitionsRun: childInputs.reduce((n, input) => n + (input.group?.length ?? 1), 0),
    largestEventBytes: largest,
    largestEventType: String(temporal.api.enums.v1.EventType[events[sizes.indexOf(largest)]?.eventType ?? 0]),
  };
}

async function run(ctx: BenchContext) {
  const full = benchName('p1024');
  const half = benchName('p1024-half');
  await produceInput(ctx, full, { partitions: PARTITIONS, records: PARTITIONS * PER_PARTITION });
  // Partitions from 512 on stay empty.
  await produceInput(ctx, half, { partitions: PARTITIONS, records: (PARTITIONS / 2) * PER_PARTITION, filled: PARTITIONS / 2 });
  return withWorker(ctx, 'partitions', async (_worker, taskQueue) => {
    const timed = await runBatch(ctx, taskQueue, pipelineOf(full));
    ctx.progress(`kto over ${PARTITIONS} partitions: ${formatSeconds(timed.wallMs)}, ${formatInt(timed.report.recordsIn)} records`);
    const fullHistory = await historyOf(ctx, pipelineOf(full));
    const halfRun = await runBatch(ctx, taskQueue, pipelineOf(half));
    const halfHistory = await historyOf(ctx, pipelineOf(half));
    ctx.progress(`first run with ${PARTITIONS / 2} empty partitions: ${halfHistory.partitionsRun} partitions run by ${halfHistory.childStarts} children in ${formatSeconds(halfRun.wallMs)}`);
    return { timed, fullHistory, halfRun, halfHistory };
  });
}

function summarize(m: Awaited<ReturnType<typeof run>>) {
  const kib = (bytes: number) => `${formatInt(bytes / 1024)} KiB`;
  const rows: BenchRow[] = [
    { metric: `Input: ${PARTITIONS} partitions × ${PER_PARTITION} voltage records`, measured: `${formatInt(m.timed.report.recordsIn)} records read` },
    { metric: `kto batch over ${PARTITIONS} partitions, end to end`, measured: formatSeconds(m.timed.wallMs), target: `< ${TARGETS.maxWallMs / 1000} s`, pass: m.timed.wallMs < TARGETS.maxWallMs },
    { metric: 'Parent workflow history: events / size', measured: `${formatInt(m.fullHistory.events)} events / ${kib(m.fullHistory.bytes)}` },
    { metric: 'Parent workflow history: largest event', measured: `${kib(m.fullHistory.largestEventBytes)} (${m.fullHistory.largestEventType})` },
    { metric: `Children the run started (partitions with up to ${formatInt(SMALL_PARTITION_OFFSETS)} offsets to read share one)`, measured: formatInt(m.fullHistory.childStarts) },
    {
      metric: `First run of a topic with ${PARTITIONS / 2} of ${PARTITIONS} partitions empty: partitions run by a child`,
      measured: `${formatInt(m.halfHistory.partitionsRun)} in ${formatInt(m.halfHistory.childStarts)} children (${formatSeconds(m.halfRun.wallMs)})`,
      target: `${PARTITIONS / 2} (none for an empty partition)`,
      pass: m.halfHistory.partitionsRun === PARTITIONS / 2,
    },
  ];
  const measurements = {
    targets: TARGETS,
    input: { partitions: PARTITIONS, recordsPerPartition: PER_PARTITION, seed: SEED },
    full: { wallMs: round(m.timed.wallMs), recordsIn: m.timed.report.recordsIn, recordsOut: m.timed.report.recordsOut, stepMs: m.timed.report.stepMs, history: m.fullHistory },
    halfEmptyFirstRun: { wallMs: round(m.halfRun.wallMs), recordsIn: m.halfRun.report.recordsIn, history: m.halfHistory },
  };
  return { rows, measurements };
}

export const partitionsPart: BenchPart = {
  name: 'partitions',
  description:
    `One batch run over a ${formatInt(PARTITIONS)}-partition topic with ${PER_PARTITION} records in each, end to end on the bench stack with one \`kto worker\` process ` +
    '(children 64 at a time, the default; small partitions share children): wall time and the parent workflow\'s history as Temporal stores it. ' +
    `Then the first run of a second topic whose partitions ${PARTITIONS / 2}–${PARTITIONS - 1} are empty: how many partitions its children run.`,
  run: async (ctx) => summarize(await run(ctx)),
};
