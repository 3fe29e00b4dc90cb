import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Client } from '@temporalio/client';
import { z } from 'zod';
import { jsonCommandRecord } from '../src/dispatcher/records';
import { commandWorkflowId, createCommandRegistry, defineCommand, type CommandDefinition } from '../src/commands/registry';
import { BATCH_OFFSETS_MEMO, createDispatcher, type StartedCommand } from '../src/dispatcher';
import { createCommandDecoder } from '../src/dispatcher/decode';
import { createLogger } from '../src/runtime/logger';
import { KTO_COMMAND } from '../src/shared/search-attributes';
import type { BenchContext, BenchPart, BenchRow } from './part';
import { formatInt, formatSeconds, round } from './report';

/**
 * The command dispatcher against a plain Temporal client, in one run on one stack: rounds of
 * commands → workflow starts per second, interleaved with rounds of the plain client, start
 * latency, and whether every command became exactly one workflow; then 10,000 batchable
 * commands. Only starts are measured: the workflows go to task queues nobody polls, so they
 * stay pending and no worker competes for the CPU (the stack is thrown away after).
 */

/**
 * The 10,000 by default; KTO_BENCH_DISPATCHER_COMMANDS lowers it where the dev server is
 * slow (a loaded machine's SQLite may take only ~10 starts/s, and the rounds start 3.5 × this many).
 */
const COMMANDS = Number(process.env.KTO_BENCH_DISPATCHER_COMMANDS ?? 10_000);
/** Start-rate rounds: each a burst of the dispatcher between two of the plain client, all of `ROUND_COMMANDS`. */
const ROUNDS = 3;
const ROUND_COMMANDS = Math.max(100, Math.round(COMMANDS / 2));
const PARTITIONS = 8;
/** The dispatcher's default KTO_DISPATCHER_MAX_IN_FLIGHT; the baseline keeps as many starts in flight. */
const IN_FLIGHT = 64;
/** Starts before each measurement: connections, group join, JIT. */
const WARMUP = 64;
/** A second, paced load: latency without a backlog, at a quarter of the baseline's starts/s. */
const PACED = { commands: Math.min(1_000, Math.max(20, Math.round(COMMANDS / 20))), shareOfBaseline: 0.25 };
const WORKFLOW_TYPE = 'benchNoop';
const TIMEOUT_MS = 10 * 60_000;

/** The micro-batched phase: commands of one command name, gathered per partition. */
const BATCHING = { maxSize: 100, maxWait: '2s', maxWaitMs: 2_000, by: 'command' } as const;

const TARGETS = {
  /** Dispatcher starts/s over the plain client's at the same concurrency. */
  minStartRatio: 0.8,
  /** Batched commands handled per second over the plain client's starts per second. */
  minBatchedRatio: 10,
  /** p99 of a batched command's latency (record timestamp → its batch's start acknowledged). */
  maxBatchedP99Ms: BATCHING.maxWaitMs + 1_000,
};

const runId = randomBytes(3).toString('hex');
const queueOf = (phase: string) => `bench.unpolled.${runId}.${phase}`;
const keysOf = (phase: string, n: number) => Array.from({ length: n }, (_, i) => `bench-${runId}-${phase}-${i}`);
const commandOf = (phase: string) => `bench.noop.${phase}`;
/** The workflow ids the dispatcher gives the commands keyed `keysOf(phase, n)`. */
const idsOf = (phase: string, n: number) => keysOf(phase, n).map((key) => commandWorkflowId(commandOf(phase), key));
const burstPhase = (round: number) => `burst-${round}`;
const DISPATCHED_PHASES = ['warmup', ...Array.from({ length: ROUNDS }, (_, r) => burstPhase(r + 1)), 'paced'];

/** One bench-only command per phase, each on its own unpolled queue, so visibility can count a phase; the batched phase's command is batched. */
function benchCommands(): CommandDefinition[] {
  const params = z.object({ n: z.number().int() }).strict();
  return [
    ...DISPATCHED_PHASES.map((p) => defineCommand({ name: commandOf(p), workflow: WORKFLOW_TYPE, taskQueue: queueOf(p), params })),
    defineCommand({ name: commandOf('batched'), workflow: WORKFLOW_TYPE, taskQueue: queueOf('batched'), params, batch: BATCHING }),
  ];
}

const loadAverage = () => os.loadavg().map((l) => round(l, 2));

/** The median of a few values, with their range. */
function medianOf(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function latencySummary(ms: number[]) {
  return { p50: round(percentile(ms, 50)), p99: round(percentile(ms, 99)), max: round(Math.max(...ms)) };
}

/** Starts/s from the first acknowledged start to the last (what the issue asks for), over `n` starts. */
function rateOf(ackAt: number[]) {
  const first = Math.min(...ackAt);
  const last = Math.max(...ackAt);
  return { spanMs: round(last - first), startsPerSecond: round(ackAt.length / ((last - first) / 1000), 1) };
}

/** The dispatcher's acknowledgements, from its afterStartHook: when, how late, and how often per workflow id. */
function createAckLog() {
  const acks = new Map<string, { at: number; latencyMs: number }>();
  let doubled = 0;
  let duplicates = 0;
  return {
    hook: (c: StartedCommand): Promise<void> => {
      const at = performance.now();
      const latencyMs = Date.now() - c.timestampMs;
      if (c.outcome === 'duplicate') duplicates++;
      else if (acks.has(c.workflowId)) doubled++;
      else acks.set(c.workflowId, { at, latencyMs });
      return Promise.resolve();
    },
    has: (id: string) => acks.has(id),
    of: (ids: string[]) => ids.flatMap((id) => acks.get(id) ?? []),
    counters: () => ({ doubled, duplicates }),
  };
}

type AckLog = ReturnType<typeof createAckLog>;

/** Batched commands' acknowledgements, per record (a batch's commands share its workflow id). */
function createRecordAckLog(command: string) {
  const acks = new Map<string, { at: number; latencyMs: number }>();
  let doubled = 0;
  return {
    hook: (c: StartedCommand): boolean => {
      if (c.command !== command) return false;
      const key = `${c.partition}:${c.offset}`;
      if (acks.has(key) || c.outcome === 'duplicate') doubled++;
      else acks.set(key, { at: performance.now(), latencyMs: Date.now() - c.timestampMs });
      return true;
    },
    size: () => acks.size,
    all: () => [...acks.values()],
    doubled: () => doubled,
  };
}

async function produceCommands(ctx: BenchContext, topic: string, phase: string, from: number, count: number): Promise<void> {
  const keys = keysOf(phase, from + count).slice(from);
  await ctx.kafka.produce(
    keys.map((key, i) => {
      const record = jsonCommandRecord({ command: commandOf(phase), params: { n: from + i }, idempotencyKey: key });
      return { topic, key, value: record.value, headers: record.headers };
    }),
  );
}

async function waitForAcks(ctx: BenchContext, acks: AckLog, ids: string[], what: string): Promise<void> {
  const deadline = performance.now() + TIMEOUT_MS;
  let lastReport = performance.now();
  for (;;) {
    const missing = ids.filter((id) => !acks.has(id)).length;
    if (missing === 0) return;
    if (performance.now() > deadline) throw new Error(`${what}: ${missing} of ${ids.length} commands not started after ${TIMEOUT_MS / 1000} s`);
    if (performance.now() - lastReport > 5_000) {
      ctx.progress(`${what}: ${formatInt(ids.length - missing)}/${formatInt(ids.length)} started`);
      lastReport = performance.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The baseline: `IN_FLIGHT` loops each starting the next workflow as soon as the previous start is acknowledged. */
async function startDirectly(client: Client, phase: string, count: number) {
  const ids = idsOf(phase, count);
  const ackAt: number[] = [];
  const latencyMs: number[] = [];
  let next = 0;
  const loop = async () => {
    while (next < ids.length) {
      const i = next++;
      const sent = performance.now();
      await client.workflow.start(WORKFLOW_TYPE, {
        taskQueue: queueOf(phase),
        workflowId: ids[i],
        args: [{ n: i }],
        // What the dispatcher sends with each start (src/dispatcher/index.ts), so both write the same.
        typedSearchAttributes: [{ key: KTO_COMMAND, value: commandOf(phase) }],
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
      const now = performance.now();
      ackAt.push(now);
      latencyMs.push(now - sent);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, loop));
  return { ...rateOf(ackAt), latencyMs: latencySummary(latencyMs), loadAverageAfter: loadAverage() };
}

/** One round of the plain client. */
async function baseline(ctx: BenchContext, n: number) {
  const measured = await startDirectly(ctx.temporal, `baseline-${n}`, ROUND_COMMANDS);
  ctx.progress(`baseline ${n}: ${formatInt(ROUND_COMMANDS)} starts in ${formatSeconds(measured.spanMs)} (${formatInt(measured.startsPerSecond)} starts/s)`);
  return measured;
}

/** Workflows visibility holds on a phase's queue; polled until it reaches `expected` (visibility lags the starts). */
async function visibleCount(client: Client, phase: string, expected: number): Promise<number> {
  const deadline = performance.now() + 60_000;
  let count = -1;
  while (performance.now() < deadline) {
    count = (await client.workflow.count(`TaskQueue = '${queueOf(phase)}'`)).count;
    if (count >= expected) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return count;
}

async function runDispatcher(ctx: BenchContext) {
  const topic = `bench.commands.${runId}`;
  const config = { dispatcher: { ...ctx.config.dispatcher, topic, groupId: `${topic}.kto`, deadLetterTopic: `${topic}.dlq`, maxInFlight: IN_FLIGHT, ordered: false } };
  await ctx.kafka.admin.ensureTopics([{ topic, partitions: PARTITIONS }]);
  const acks = createAckLog();
  const batchedAcks = createRecordAckLog(commandOf('batched'));
  const registry = createCommandRegistry({ taskQueue: ctx.config.temporal.taskQueue, commands: benchCommands() });
  const dispatcher = createDispatcher({
    config,
    logger: createLogger({ level: 'warn', pretty: false }),
    kafka: ctx.kafka,
    client: ctx.temporal,
    registry,
    decoder: createCommandDecoder({}),
    afterStartHook: (c) => (batchedAcks.hook(c) ? Promise.resolve() : acks.hook(c)),
  });
  const running = dispatcher.run();
  try {
    await produceCommands(ctx, topic, 'warmup', 0, WARMUP);
    await waitForAcks(ctx, acks, idsOf('warmup', WARMUP), 'dispatcher warm-up (group join)');
    ctx.progress(`dispatcher: warmed up with ${WARMUP} commands; ${ROUNDS} rounds of ${formatInt(ROUND_COMMANDS)} starts, the plain client's and the dispatcher's in turn…`);

    // Rounds: the plain client, then the same number of commands through the dispatcher, and the
    // plain client once more at the end; each dispatcher round is set against the two baselines around it.
    await startDirectly(ctx.temporal, 'baseline-warmup', WARMUP);
    const baselines = [await baseline(ctx, 1)];
    const bursts = [];
    for (let r = 1; r <= ROUNDS; r++) {
      const phase = burstPhase(r);
      const loadBefore = loadAverage();
      const produceStarted = performance.now();
      await produceCommands(ctx, topic, phase, 0, ROUND_COMMANDS);
      const produceMs = performance.now() - produceStarted;
      const ids = idsOf(phase, ROUND_COMMANDS);
      await waitForAcks(ctx, acks, ids, `dispatcher round ${r}`);
      const roundAcks = acks.of(ids);
      const burst = { ...rateOf(roundAcks.map((a) => a.at)), latencyMs: latencySummary(roundAcks.map((a) => a.latencyMs)), produceMs: round(produceMs), loadBefore, loadAfter: loadAverage() };
      ctx.progress(`dispatcher round ${r}: ${formatInt(ROUND_COMMANDS)} starts in ${formatSeconds(burst.spanMs)} (${formatInt(burst.startsPerSecond)} starts/s)`);
      bursts.push(burst);
      baselines.push(await baseline(ctx, r + 1));
    }
    const pacedPerSecond = medianOf(baselines.map((b) => b.startsPerSecond)).median * PACED.shareOfBaseline;

    ctx.progress(`dispatcher: ${formatInt(PACED.commands)} commands paced at ${pacedPerSecond.toFixed(1)}/s…`);
    const pacedStarted = performance.now();
    for (let sent = 0; sent < PACED.commands; sent++) {
      const due = pacedStarted + (sent / pacedPerSecond) * 1000;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
      await produceCommands(ctx, topic, 'paced', sent, 1);
    }
    await waitForAcks(ctx, acks, idsOf('paced', PACED.commands), 'dispatcher paced');
    const paced = { perSecond: round(pacedPerSecond, 1), latencyMs: latencySummary(acks.of(idsOf('paced', PACED.commands)).map((a) => a.latencyMs)) };

    ctx.progress(`dispatcher: ${formatInt(COMMANDS)} batched commands (batch ${JSON.stringify(BATCHING)}) at once…`);
    const batchedStarted = performance.now();
    await produceCommands(ctx, topic, 'batched', 0, COMMANDS);
    const deadline = performance.now() + TIMEOUT_MS;
    while (batchedAcks.size() < COMMANDS) {
      if (performance.now() > deadline) throw new Error(`batched: ${COMMANDS - batchedAcks.size()} of ${COMMANDS} commands not started after ${TIMEOUT_MS / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const handled = batchedAcks.all();
    const spanMs = Math.max(...handled.map((a) => a.at)) - batchedStarted;
    const batchStarts = (await dispatcher.metrics.started.get()).values.find((v) => v.labels.command === commandOf('batched'))?.value ?? 0;
    const batched = { spanMs: round(spanMs), commandsPerSecond: round(COMMANDS / (spanMs / 1000), 1), batchStarts, latencyMs: latencySummary(handled.map((a) => a.latencyMs)), doubled: batchedAcks.doubled() };
    ctx.progress(`dispatcher: ${formatInt(COMMANDS)} batched commands in ${formatSeconds(spanMs)} (${formatInt(batched.commandsPerSecond)}/s, ${batchStarts} batches)`);
    return { topic, groupId: config.dispatcher.groupId, acks, baselines, bursts, paced, batched, dispatcher };
  } finally {
    await dispatcher.stop();
    await running;
  }
}

/** Lost or doubled: distinct acknowledged ids, visibility's count, duplicates, dead letters and committed offsets. */
async function checkExactlyOnce(ctx: BenchContext, d: Awaited<ReturnType<typeof runDispatcher>>) {
  const expected = ROUNDS * ROUND_COMMANDS;
  let acknowledged = 0;
  let visible = 0;
  for (let r = 1; r <= ROUNDS; r++) {
    acknowledged += idsOf(burstPhase(r), ROUND_COMMANDS).filter((id) => d.acks.has(id)).length;
    visible += await visibleCount(ctx.temporal, burstPhase(r), ROUND_COMMANDS);
  }
  const deadLettered = (await d.dispatcher.metrics.deadLettered.get()).values.reduce((sum, v) => sum + v.value, 0);
  const committed = [...(await ctx.kafka.admin.committedOffsets(d.groupId, d.topic)).values()].reduce((sum, o) => sum + Number(o), 0);
  const produced = WARMUP + expected + PACED.commands + COMMANDS;
  const { doubled, duplicates } = d.acks.counters();
  const lost = expected - Math.min(acknowledged, visible);
  const exact = acknowledged === expected && visible === expected && doubled === 0 && duplicates === 0 && deadLettered === 0 && committed === produced;
  return { expected, acknowledged, visible, doubled, duplicates, deadLettered, committed, produced, lost, exact };
}

/** Lost or doubled among the batched commands, from Temporal's side: the offsets each batch workflow's memo lists, over all of them. */
async function checkBatchedExactlyOnce(ctx: BenchContext, d: Awaited<ReturnType<typeof runDispatcher>>) {
  const seen = new Map<string, number>();
  let workflows = 0;
  for await (const w of ctx.temporal.workflow.list({ query: `TaskQueue = '${queueOf('batched')}'` })) {
    workflows++;
    const partition = /-(\d+)-\d+$/.exec(w.workflowId)?.[1];
    const offsets = String(w.memo?.[BATCH_OFFSETS_MEMO] ?? '').split(',').filter(Boolean);
    for (const offset of offsets) seen.set(`${partition}:${offset}`, (seen.get(`${partition}:${offset}`) ?? 0) + 1);
  }
  const doubled = [...seen.values()].reduce((n, c) => n + c - 1, 0) + d.batched.doubled;
  const lost = COMMANDS - seen.size;
  return { workflows, commandsListed: seen.size, lost, doubled, exact: lost === 0 && doubled === 0 && workflows === d.batched.batchStarts };
}

async function run(ctx: BenchContext) {
  const dispatched = await runDispatcher(ctx);
  const exactly = await checkExactlyOnce(ctx, dispatched);
  const batchedExactly = await checkBatchedExactlyOnce(ctx, dispatched);
  return { ...dispatched, exactly, batchedExactly };
}

function summarize(m: Awaited<ReturnType<typeof run>>) {
  const ratios = m.bursts.map((burst, i) => burst.startsPerSecond / ((m.baselines[i].startsPerSecond + m.baselines[i + 1].startsPerSecond) / 2));
  const ratio = medianOf(ratios);
  const baselineRate = medianOf(m.baselines.map((b) => b.startsPerSecond));
  const dispatcherRate = medianOf(m.bursts.map((b) => b.startsPerSecond));
  const medianRound = m.bursts[ratios.indexOf([...ratios].sort((x, y) => x - y)[Math.floor(ratios.length / 2)])];
  const e = m.exactly;
  const b = m.batched;
  const batchedRatio = b.commandsPerSecond / baselineRate.median;
  const lat = (l: { p50: number; p99: number; max: number }) => `p50 ${formatInt(l.p50)} ms, p99 ${formatInt(l.p99)} ms (max ${formatInt(l.max)} ms)`;
  const spread = (r: { median: number; min: number; max: number }, fmt: (n: number) => string) => `${fmt(r.median)} (${fmt(r.min)}–${fmt(r.max)})`;
  const rows: BenchRow[] = [
    {
      metric: `Input: ${ROUNDS} rounds of ${formatInt(ROUND_COMMANDS)} JSON commands, ${PARTITIONS} partitions, each round produced at once`,
      measured: `in ${m.bursts.map((r) => formatSeconds(r.produceMs)).join(', ')}; load average ${m.bursts[0].loadBefore.join(' / ')} before, ${m.bursts[ROUNDS - 1].loadAfter.join(' / ')} after`,
    },
    {
      metric: `Baseline: Temporal client, ${IN_FLIGHT} starts in flight, ${ROUNDS + 1} rounds around the dispatcher's (median, min–max)`,
      measured: `${spread(baselineRate, formatInt)} starts/s`,
    },
    { metric: 'Baseline start round trip (first round)', measured: lat(m.baselines[0].latencyMs) },
    {
      metric: `kto dispatcher (in-process createDispatcher, ${IN_FLIGHT} in flight), first to last start of a round (median, min–max)`,
      measured: `${spread(dispatcherRate, formatInt)} starts/s`,
    },
    {
      metric: 'Dispatcher / the mean of the baselines before and after the round (median, min–max)',
      measured: `${spread(ratio, (n) => n.toFixed(2))} ×`,
      target: `≥ ${TARGETS.minStartRatio} ×`,
      pass: ratio.median >= TARGETS.minStartRatio,
    },
    { metric: `Start latency, ${formatInt(ROUND_COMMANDS)} at once, the median round (record timestamp → start acknowledged; includes the backlog)`, measured: lat(medianRound.latencyMs) },
    { metric: `Start latency, ${formatInt(PACED.commands)} paced at ${m.paced.perSecond}/s = ¼ baseline (no backlog)`, measured: lat(m.paced.latencyMs) },
    {
      metric: 'Lost or doubled (distinct ids acknowledged; in visibility; duplicates; dead-lettered; offsets committed)',
      measured:
        `${formatInt(e.lost)} lost, ${formatInt(e.doubled)} doubled (${formatInt(e.acknowledged)}; ${formatInt(e.visible)}; ${e.duplicates}; ${e.deadLettered}; ` +
        `${formatInt(e.committed)}/${formatInt(e.produced)})`,
      target: `0 lost, 0 doubled`,
      pass: e.exact,
    },
    {
      metric: `Micro-batching: ${formatInt(COMMANDS)} batchable commands at once (batch ${BATCHING.maxSize}, ${BATCHING.maxWait}, by ${BATCHING.by}), produce start → last batch started`,
      measured: `${formatInt(b.commandsPerSecond)} commands/s (${formatSeconds(b.spanMs)}, ${formatInt(b.batchStarts)} batch workflows)`,
    },
    { metric: 'Batched commands/s / median baseline starts/s', measured: `${batchedRatio.toFixed(1)} ×`, target: `≥ ${TARGETS.minBatchedRatio} ×`, pass: batchedRatio >= TARGETS.minBatchedRatio },
    {
      metric: 'Batched command latency (record timestamp → its batch started)',
      measured: lat(b.latencyMs),
      target: `p99 ≤ ${formatInt(TARGETS.maxBatchedP99Ms)} ms`,
      pass: b.latencyMs.p99 <= TARGETS.maxBatchedP99Ms,
    },
    {
      metric: 'Batched: lost or doubled (offsets listed by the batch workflows in Temporal; workflows)',
      measured: `${formatInt(m.batchedExactly.lost)} lost, ${formatInt(m.batchedExactly.doubled)} doubled (${formatInt(m.batchedExactly.commandsListed)}; ${formatInt(m.batchedExactly.workflows)})`,
      target: '0 lost, 0 doubled',
      pass: m.batchedExactly.exact,
    },
  ];
  const measurements = {
    targets: TARGETS,
    setup: { commands: COMMANDS, rounds: ROUNDS, roundCommands: ROUND_COMMANDS, partitions: PARTITIONS, inFlight: IN_FLIGHT, warmup: WARMUP, paced: PACED, dispatcher: 'in-process createDispatcher, shared Temporal client' },
    baseline: { rounds: m.baselines, startsPerSecond: baselineRate },
    dispatcher: { rounds: m.bursts, startsPerSecond: dispatcherRate, paced: m.paced, startRatios: ratios.map((r) => round(r, 3)), startRatio: { median: round(ratio.median, 3), min: round(ratio.min, 3), max: round(ratio.max, 3) } },
    exactlyOnce: m.exactly,
    batched: { setup: BATCHING, ...m.batched, ratio: round(batchedRatio, 2), exactlyOnce: m.batchedExactly },
  };
  return { rows, measurements };
}

export const dispatcherPart: BenchPart = {
  name: 'dispatcher',
  description:
    `The command dispatcher turning ${ROUNDS} rounds of ${formatInt(ROUND_COMMANDS)} commands (${PARTITIONS} partitions) into workflow starts, interleaved with ` +
    `rounds of a plain Temporal client starting the same workflows with the same ${IN_FLIGHT} in flight; then ${formatInt(COMMANDS)} batchable commands, started a batch per workflow. ` +
    'Workflows go to unpolled task queues, so only starts are measured.',
  run: async (ctx) => summarize(await run(ctx)),
};
