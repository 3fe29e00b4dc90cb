import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { commandWorkflowId, isRejection, type CommandBatch, type CommandEnvelope, type CommandRegistry, type ResolvedCommand } from '../commands/registry';
import { KTO_COMMAND } from '../shared/search-attributes';
import type { KtoConfig } from '../runtime/config';
import type { ConsumedRecord, KafkaIo } from '../kafka';
import type { Logger } from '../runtime/logger';
import { retryForever, type BackoffOptions } from '../runtime/backoff';
import { createBatchGatherer, type BatchGroup } from './batches';
import { writeDeadLetter, type DeadLetterReason } from './dead-letter';
import { CommandDecodeError, type CommandDecoder } from './decode';
import { errorMessage, needsFix } from './faults';
import { createDispatcherMetrics } from './metrics';
import { createOffsetTracker } from './offset-tracker';
import { createSlots } from './slots';

export { DLQ_HEADERS, TRUNCATED_VALUE_BYTES, type DeadLetterReason } from './dead-letter';

/** Partitions of a commands topic kto creates itself (an existing topic is used as it is). */
export const COMMANDS_TOPIC_PARTITIONS = 3;

/**
 * Where a partition starts when the group has no committed offset for it (a new group, or
 * offsets the broker expired after `offsets.retention.minutes`): `retention` = at its first
 * record younger than the Temporal namespace's retention, `earliest` = at its first record.
 */
export type DispatcherStart = 'retention' | 'earliest';

/** Where a command stands when the test hook runs. */
export interface StartedCommand {
  workflowId: string;
  command: string;
  partition: number;
  offset: bigint;
  /** The record's timestamp (produce time), ms since the epoch: start latency = acknowledgement time − this. */
  timestampMs: number;
  outcome: 'started' | 'duplicate';
}

export interface DispatcherOptions {
  /** Reads `dispatcher.*` (topic, group, dead-letter topic, limits, ordered mode) and `temporal.namespace`. */
  config: Pick<KtoConfig, 'dispatcher'>;
  logger: Logger;
  kafka: KafkaIo;
  client: Client;
  registry: CommandRegistry;
  decoder: CommandDecoder;
  /** How long `stop()` waits for in-flight commands before abandoning them (uncommitted, so replayed later). @default 30_000 */
  drainTimeoutMs?: number;
  /** Backoff while Temporal, the schema registry or the dead-letter topic is unavailable. @default 200 ms doubling to 30 s, with jitter */
  backoff?: BackoffOptions;
  /** Runs after a start is acknowledged and before its offset may be committed; fault tests park here, the bench times starts here. */
  afterStartHook?: (command: StartedCommand) => Promise<void>;
  /**
   * Where a partition without a committed offset starts. A record older than the namespace's
   * retention may have run already, and Temporal no longer remembers its workflow id, so
   * `retention` skips it; `earliest` starts it unless its id is still remembered.
   * @default 'retention'
   */
  from?: DispatcherStart;
}

function withDefaults(options: DispatcherOptions) {
  return { drainTimeoutMs: 30_000, backoff: {}, from: 'retention' as DispatcherStart, ...options };
}

/** How a log line and `/healthz` name the record (or partitions) a failure holds up. */
function placeOf(where: { partition?: number; partitions?: number[]; offset?: string }): string {
  if (where.partitions) return `partitions ${where.partitions.join(', ')}`;
  return where.offset === undefined ? `partition ${where.partition}` : `partition ${where.partition}, offset ${where.offset}`;
}

/** A partition assigned without a committed offset (`from: 'retention'`): records before `cutoffMs` are skipped, `skipped` counts them. */
interface StartPoint {
  cutoffMs: number;
  skipped: number;
}

/** How long a failed offset commit waits before it is tried again without a new record. */
const COMMIT_RETRY_MS = 1_000;

/** Outcome of one record: `true` = done (its offset may be committed), `false` = abandoned at stop (replayed later). */
type Finished = boolean;

/** A batched command waiting in its group; `settle` finishes its record. */
interface Gathered {
  record: ConsumedRecord;
  resolved: ResolvedCommand;
  settle: (finished: Finished) => void;
}

/** The memo field of a batch's workflow that lists its commands' offsets: how a replay learns what a batch already covered. */
export const BATCH_OFFSETS_MEMO = 'ktoBatchOffsets';

/** Batched commands waiting for their batch at most, over all groups; more wait for room. */
const MAX_GATHERED = 10_000;

/**
 * The command dispatcher: a consumer group on the commands topic
 * that turns each record into exactly one workflow start.
 *
 * - Workflow ids come from the command (`<command>:<idempotency key>`, else
 *   `<command>:<topic>-<partition>-<offset>`; see commandWorkflowId) and are started with
 *   conflict policy FAIL + reuse policy REJECT_DUPLICATE: a replayed command whose workflow
 *   runs or ran (within the namespace retention) starts nothing and is counted as a duplicate.
 * - A record's offset is committed only after its start is acknowledged (or it is safely in the
 *   dead-letter topic), and per partition only when every earlier record is done too.
 * - Temporal unavailable: back off and retry forever; nothing is skipped, nothing committed.
 *   A failure that waiting will not heal (a missing search attribute, a refused dead letter)
 *   is retried the same way, and `/healthz` answers 503 naming the partition, offset and cause.
 * - A partition without a committed offset starts at its first record younger than the
 *   namespace's retention (`from: 'retention'`): older commands are skipped, never started twice.
 * - Ordered mode: records with the same Kafka key run one after another. The next start of a
 *   key waits until the previous workflow of that key has completed, and a record counts as done
 *   (committable) only then, so after a crash the replay waits for the still-running
 *   predecessor again instead of overtaking it.
 * - Micro-batching (a command's `batch`): its records wait in a group (see batches.ts) and start
 *   one workflow per group; each is committable once its batch's start is acknowledged, and a
 *   replay starts only the commands no earlier batch's memo lists (see launchBatch).
 */
export function createDispatcher(options: DispatcherOptions) {
  const o = withDefaults(options);
  const { topic, groupId, deadLetterTopic, maxInFlight, ordered, maxBytes } = o.config.dispatcher;
  const { kafka, client, registry, decoder } = o;
  const metrics = createDispatcherMetrics();
  const log = o.logger.child({ namespace: 'dispatcher', topic, groupId });
  const abort = new AbortController();
  const slots = createSlots(maxInFlight);
  const gatherRoom = createSlots(MAX_GATHERED);
  const batches = createBatchGatherer<Gathered>((group) => {
    void launchBatch(group).catch((err: unknown) => {
      // Unexpected (a bug, not an outage): keep the offsets uncommitted so no command is lost.
      const where = { partition: group.partition, offset: group.items[0].record.offset.toString() };
      log.error({ ...where, err }, 'starting a batch failed; its offsets stay uncommitted');
      stuck(where, `starting a batch failed unexpectedly (${(err as Error).message})`);
      for (const item of group.items) item.settle(false);
    });
  });
  const inFlight = new Set<Promise<void>>();
  /** Per Kafka key (ordered mode): settles when the latest command of that key is finished. */
  const keyChains = new Map<string, Promise<Finished>>();
  let tracker = createOffsetTracker();
  /** Partitions of this assignment that start at a point in time; a partition leaves the map at its first record after that point. */
  let startPoints: Promise<Map<number, StartPoint>> = Promise.resolve(new Map());
  /** Records held up by something that needs a fix, by place: what `/healthz` reports. */
  const faults = new Map<string, string>();
  const toCommit = new Map<number, bigint>();
  let commits: Promise<void> = Promise.resolve();
  let commitRetry: NodeJS.Timeout | undefined;
  let stopping = false;
  let stopped: Promise<void> | undefined;
  let resolveRun: () => void = () => undefined;
  const runDone = new Promise<void>((resolve) => (resolveRun = resolve));

  const retry = <T>(what: string, where: Parameters<typeof placeOf>[0], fn: () => Promise<T>) => {
    const place = placeOf(where);
    return retryForever(fn, {
      ...o.backoff,
      signal: abort.signal,
      onError: (err, attempt, delayMs) => {
        const message = errorMessage(err);
        if (needsFix(err)) faults.set(place, `${what} failed, and retrying will not fix it: ${message}`);
        log[attempt < 3 && !needsFix(err) ? 'warn' : 'error']({ ...where, err: message, attempt, retryInMs: Math.round(delayMs) }, `${what} failed; retrying`);
      },
    }).finally(() => faults.delete(place));
  };

  /** A record left unfinished while the dispatcher runs holds its partition's commits back until a restart: say so on /healthz. */
  const stuck = (where: Parameters<typeof placeOf>[0], why: string) => {
    if (!stopping) faults.set(placeOf(where), `${why}; its offset and every later one of the partition stay uncommitted until the dispatcher restarts`);
  };

  const consumer = kafka.groupConsumer({
    groupId,
    topic,
    accept,
    // After a rebalance the partitions restart from their committed offsets: what was in flight
    // is fetched again (and found to be a duplicate), so the old positions no longer apply.
    onAssignment: (partitions) => {
      tracker = createOffsetTracker();
      toCommit.clear();
      faults.clear();
      startPoints = startPointsOf(partitions);
    },
  });

  /** The namespace's retention in ms: how long Temporal remembers the id of a closed workflow. */
  async function namespaceRetentionMs(): Promise<number | undefined> {
    const { config } = await client.workflowService.describeNamespace({ namespace: client.options.namespace });
    return optionalTsToMs(config?.workflowExecutionRetentionTtl);
  }

  /** Reads which assigned partitions the group has no committed offset for, and where they start. */
  async function startPointsOf(partitions: number[]): Promise<Map<number, StartPoint>> {
    const committed = await retry('reading the committed offsets', { partitions }, () => kafka.admin.committedOffsets(groupId, topic));
    const fresh = partitions.filter((p) => (committed?.value.get(p) ?? null) === null);
    if (!committed || fresh.length === 0) return new Map();
    if (o.from === 'earliest') {
      log.info({ partitions: fresh }, 'no committed offset (a new group, or offsets the broker expired): starting at the first record of these partitions (from: earliest)');
      return new Map();
    }
    const retention = await retry(`reading the retention of Temporal namespace ${client.options.namespace}`, { partitions: fresh }, namespaceRetentionMs);
    if (!retention?.value) {
      if (retention) log.warn({ partitions: fresh }, 'no committed offset, and the namespace reports no retention: starting at the first record of these partitions');
      return new Map();
    }
    const cutoffMs = Date.now() - retention.value;
    log.info(
      { partitions: fresh, retentionHours: retention.value / 3_600_000, skipBefore: new Date(cutoffMs).toISOString() },
      'no committed offset (a new group, or offsets the broker expired): these partitions start at their first command younger than the namespace retention; ' +
        'older commands may have run already and Temporal no longer knows their ids, so they are skipped (kto dispatcher --from earliest starts them)',
    );
    return new Map(fresh.map((p) => [p, { cutoffMs, skipped: 0 }]));
  }

  /** `from: 'retention'`: whether this record comes before its partition's start point (and so is skipped). */
  function beforeStart(starts: Map<number, StartPoint>, record: ConsumedRecord): boolean {
    const start = starts.get(record.partition);
    if (!start) return false;
    if (record.timestampMs < start.cutoffMs) {
      start.skipped++;
      metrics.skipped.inc();
      log.debug({ partition: record.partition, offset: record.offset.toString(), at: new Date(record.timestampMs).toISOString() }, 'command older than the namespace retention skipped');
      return true;
    }
    starts.delete(record.partition);
    log.info({ partition: record.partition, offset: record.offset.toString(), skipped: start.skipped }, 'first command younger than the namespace retention: dispatching from here');
    return false;
  }

  async function accept(record: ConsumedRecord): Promise<boolean> {
    const generation = tracker;
    const starts = startPoints;
    if (stopping) return false;
    const acquired = await slots.acquire();
    const starting = await starts;
    if (!acquired || stopping || generation !== tracker) {
      if (acquired) slots.release();
      return false;
    }
    metrics.consumed.inc();
    generation.track(record.partition, record.offset);
    const skip = beforeStart(starting, record);
    // Chained synchronously, before any await, so a key's commands queue in offset order.
    const key = ordered && record.key ? record.key.toString('base64') : undefined;
    const previous = key ? keyChains.get(key) : undefined;
    // A batched command gives its slot back once it waits in its batch; every other one holds it until done.
    let released = false;
    const release = () => {
      if (!released) slots.release();
      released = true;
    };
    const handled = skip ? Promise.resolve(true) : handle(record, previous, release);
    if (key) {
      keyChains.set(key, handled);
      void handled.then(() => keyChains.get(key) === handled && keyChains.delete(key));
    }
    const work = handled.then((finished) => {
      release();
      if (finished) markDone(generation, record);
    });
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
    return true;
  }

  async function handle(record: ConsumedRecord, previous: Promise<Finished> | undefined, releaseSlot: () => void): Promise<Finished> {
    const where = { partition: record.partition, offset: record.offset.toString() };
    try {
      const size = (record.value?.length ?? 0) + (record.key?.length ?? 0);
      if (size > maxBytes) {
        return await deadLetter(record, 'oversized', `record is ${size} bytes, over the ${maxBytes}-byte limit (KTO_DISPATCHER_MAX_BYTES)`);
      }
      const decoded = await retry('decoding', where, async (): Promise<CommandEnvelope | CommandDecodeError> => {
        try {
          return await decoder.decode(record.value, record.headers);
        } catch (err) {
          // Anything but a decode verdict (e.g. schema registry unreachable) may heal: retry it.
          if (err instanceof CommandDecodeError) return err;
          throw err;
        }
      });
      if (!decoded) return false;
      if (decoded.value instanceof CommandDecodeError) return await deadLetter(record, decoded.value.reason, decoded.value.message);
      const resolved = registry.resolveCommand(decoded.value, record);
      if (isRejection(resolved)) return await deadLetter(record, resolved.reason, resolved.detail);
      if (resolved.batch && !ordered) return await gather(record, resolved, releaseSlot);
      // Ordered mode runs a batched command alone, as a batch of one, in its key's order.
      const command = resolved.batch ? batchCommand({ command: resolved.command, partition: record.partition, key: keyOf(record, resolved) }, [{ record, resolved }]) : resolved;

      // An abandoned predecessor (stop, or a bug) must not be overtaken: leave this one for the replay too.
      if (previous && !(await previous)) {
        stuck(where, 'an earlier command with the same key was left unfinished (ordered mode), so this one waits for the restart too');
        return false;
      }
      const ids = { ...where, command: command.command, workflowId: command.workflowId };
      const outcome = await retry('starting the workflow', ids, () => start(command));
      if (!outcome) return false;
      if (outcome.value === 'started') {
        metrics.started.inc({ command: command.command });
        if (resolved.batch) metrics.batched.inc({ command: command.command });
        metrics.startLatency.observe(Math.max(0, Date.now() - record.timestampMs) / 1000);
        log.info(ids, 'workflow started');
      } else {
        metrics.duplicate.inc();
        log.info(ids, 'duplicate command: its workflow already ran or is running; nothing started');
      }
      await o.afterStartHook?.({ ...ids, offset: record.offset, timestampMs: record.timestampMs, outcome: outcome.value });
      if (ordered && record.key) {
        const completed = await retry('waiting for the workflow to complete (ordered mode)', ids, () => completion(command.workflowId));
        if (!completed) return false;
      }
      return true;
    } catch (err) {
      // Unexpected (a bug, not an outage): keep the offset uncommitted so the command is not lost.
      log.error({ ...where, err }, 'command handling failed; its offset stays uncommitted');
      stuck(where, `handling the command failed unexpectedly (${(err as Error).message})`);
      return false;
    }
  }

  async function start(command: ResolvedCommand): Promise<'started' | 'duplicate'> {
    try {
      await client.workflow.start(command.workflowType, {
        ...command.startOptions,
        taskQueue: command.taskQueue,
        workflowId: command.workflowId,
        args: command.args,
        // Lets `kto runs list --type` and the Temporal UI find runs by the command that started them.
        typedSearchAttributes: [{ key: KTO_COMMAND, value: command.command }],
        // Both policies mean "start only if this id never ran": FAIL (rather than USE_EXISTING)
        // makes a running duplicate visible as an error, so it is counted like a completed one.
        // Invariant 8 (docs/design.md): "never ran" as far as Temporal remembers, i.e. within the namespace retention.
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
      return 'started';
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'duplicate';
      throw err;
    }
  }

  /** Puts a batched command into its group; resolves when its batch started (or a replay found it covered). */
  async function gather(record: ConsumedRecord, resolved: ResolvedCommand, releaseSlot: () => void): Promise<Finished> {
    if (!(await gatherRoom.acquire())) return false;
    const batch = resolved.batch!;
    const finished = new Promise<Finished>((settle) => {
      batches.add({ record, resolved, settle }, { command: resolved.command, partition: record.partition, key: keyOf(record, resolved) }, batch);
    });
    releaseSlot();
    return finished.finally(() => gatherRoom.release());
  }

  /**
   * The start of a batch: id `<command>:batch-<topic>-<partition>-<offset>` of its first command,
   * a `CommandBatch` as its one argument, and a memo listing every command's offset.
   */
  function batchCommand(group: Omit<BatchGroup<unknown>, 'items'>, items: Pick<Gathered, 'record' | 'resolved'>[]): ResolvedCommand {
    const first = items[0];
    const argument: CommandBatch = {
      command: group.command,
      key: group.key,
      items: items.map(({ record, resolved }) => ({
        args: resolved.args,
        partition: record.partition,
        offset: record.offset.toString(),
        ...(resolved.idempotencyKey !== undefined && { idempotencyKey: resolved.idempotencyKey }),
      })),
    };
    const memo = { ...first.resolved.startOptions.memo, [BATCH_OFFSETS_MEMO]: argument.items.map((i) => i.offset).join(',') };
    return {
      ...first.resolved,
      workflowId: commandWorkflowId(group.command, `batch-${topic}-${group.partition}-${first.record.offset}`),
      args: [argument],
      startOptions: { ...first.resolved.startOptions, memo },
    };
  }

  /**
   * Starts one workflow for a group of batched commands. Its id is `<command>:batch-<topic>-<partition>-<offset>`
   * of the group's first command, and its memo lists every command's offset. When the id ran
   * already (a replay after a crash between start and commit), the commands that run listed are
   * done; the rest form a new batch, whose first offset gives it another id.
   */
  async function launchBatch(group: BatchGroup<Gathered>): Promise<void> {
    let remaining = group.items;
    const settle = (items: Gathered[], finished: Finished) => items.forEach((i) => i.settle(finished));
    const report = async (items: Gathered[], workflowId: string, outcome: StartedCommand['outcome']) => {
      for (const { record } of items) {
        await o.afterStartHook?.({ workflowId, command: group.command, partition: record.partition, offset: record.offset, timestampMs: record.timestampMs, outcome });
      }
    };
    while (remaining.length > 0) {
      const items = remaining;
      const command = batchCommand(group, items);
      const { workflowId } = command;
      const ids = { partition: group.partition, offset: items[0].record.offset.toString(), command: group.command, workflowId, commands: items.length };
      const outcome = await retry('starting the batch workflow', ids, () => start(command));
      if (!outcome) return settle(items, false);
      if (outcome.value === 'started') {
        metrics.started.inc({ command: group.command });
        metrics.batched.inc({ command: group.command }, items.length);
        for (const { record } of items) metrics.startLatency.observe(Math.max(0, Date.now() - record.timestampMs) / 1000);
        log.info(ids, 'batch workflow started');
        await report(items, workflowId, 'started');
        return settle(items, true);
      }
      const covered = await retry('reading the commands of a batch started before', ids, () => batchOffsets(workflowId));
      if (!covered) return settle(items, false);
      const done = items.filter(({ record }) => covered.value.has(record.offset.toString()));
      remaining = items.filter(({ record }) => !covered.value.has(record.offset.toString()));
      if (done.length === 0) {
        log.error(ids, 'the batch workflow id is taken by a run that does not list this batch\'s commands; they stay uncommitted');
        stuck(ids, `workflow id ${workflowId} is taken by a run that does not list this batch's commands`);
        return settle(items, false);
      }
      metrics.duplicate.inc(done.length);
      log.info({ ...ids, covered: done.length }, 'batch already started before (a replay): its commands are done; the others form a new batch');
      await report(done, workflowId, 'duplicate');
      settle(done, true);
    }
  }

  /** The Kafka key a batched command is gathered by (`by: 'key'`), else null. */
  function keyOf(record: ConsumedRecord, resolved: ResolvedCommand): string | null {
    return resolved.batch?.by === 'key' ? (record.key?.toString('utf8') ?? null) : null;
  }

  /** The offsets a batch workflow's memo lists. */
  async function batchOffsets(workflowId: string): Promise<Set<string>> {
    try {
      const { memo } = await client.workflow.getHandle(workflowId).describe();
      const listed = memo?.[BATCH_OFFSETS_MEMO];
      return new Set(typeof listed === 'string' && listed !== '' ? listed.split(',') : []);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return new Set();
      throw err;
    }
  }

  /** Resolves when the workflow closed, however it ended; rejects only when Temporal cannot say (retried). */
  async function completion(workflowId: string): Promise<void> {
    try {
      await client.workflow.getHandle(workflowId).result();
    } catch (err) {
      if (err instanceof WorkflowFailedError || err instanceof WorkflowNotFoundError) return;
      throw err;
    }
  }

  async function deadLetter(record: ConsumedRecord, reason: DeadLetterReason, error: string): Promise<Finished> {
    const where = { partition: record.partition, offset: record.offset.toString(), reason };
    const written = await retry('writing to the dead-letter topic', where, () => writeDeadLetter(kafka, deadLetterTopic, record, reason, error));
    if (!written) return false;
    metrics.deadLettered.inc({ reason });
    log.warn({ ...where, deadLetterTopic, error, truncated: written.value }, written.value ? 'command dead-lettered as a truncated copy (the dead-letter topic refused its size)' : 'command dead-lettered');
    return true;
  }

  /** Invariant 7 (docs/design.md): only a finished record, with every earlier one of its partition, is committed. */
  function markDone(generation: typeof tracker, record: ConsumedRecord): void {
    const next = generation.done(record.partition, record.offset);
    if (next === undefined || generation !== tracker) return;
    toCommit.set(record.partition, next);
    commits = commits.then(flushCommits);
  }

  async function flushCommits(): Promise<void> {
    const positions = [...toCommit].map(([partition, offset]) => ({ partition, offset }));
    toCommit.clear();
    if (positions.length === 0) return;
    try {
      await consumer.commit(positions);
      log.debug({ positions: positions.map((p) => `${p.partition}@${p.offset}`) }, 'offsets committed');
    } catch (err) {
      // Kept for the next flush unless a newer position arrived; a revoked partition's is dropped at the rebalance.
      for (const p of positions) if (!toCommit.has(p.partition)) toCommit.set(p.partition, p.offset);
      log.warn({ err: (err as Error).message }, `offset commit failed; will retry in ${COMMIT_RETRY_MS} ms or with the next record`);
      // The last records of a burst have no next record to carry their commit: retry on a timer too.
      if (!stopping && commitRetry === undefined) {
        commitRetry = setTimeout(() => {
          commitRetry = undefined;
          commits = commits.then(flushCommits);
        }, COMMIT_RETRY_MS);
        commitRetry.unref();
      }
    }
  }

  async function shutdown(): Promise<void> {
    stopping = true;
    clearTimeout(commitRetry);
    log.info({ inFlight: inFlight.size }, 'dispatcher stopping: no new records, draining in-flight commands');
    consumer.pause();
    slots.close();
    batches.closeAll();
    gatherRoom.close();
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      Promise.all([...inFlight]).then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), o.drainTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (!drained) {
      log.warn({ inFlight: inFlight.size }, 'drain timed out: abandoning in-flight commands; their offsets stay uncommitted and they replay on restart');
      abort.abort();
      await Promise.all([...inFlight]);
    }
    commits = commits.then(flushCommits);
    await commits;
    await consumer.close().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'consumer close failed'));
    log.info('dispatcher stopped');
    resolveRun();
  }

  return {
    metrics,
    /** Consumes until `stop()`; resolves after the drain and the final commit. */
    async run(): Promise<void> {
      await kafka.admin.ensureTopics([
        { topic, partitions: COMMANDS_TOPIC_PARTITIONS },
        { topic: deadLetterTopic, partitions: 1 },
      ]);
      await consumer.start();
      log.info({ maxInFlight, ordered, maxBytes, deadLetterTopic, from: o.from }, 'dispatcher running');
      await runDone;
    },
    /** Graceful stop: stop fetching, finish (or after drainTimeoutMs abandon) in-flight starts, commit, leave the group. */
    stop(): Promise<void> {
      stopped ??= shutdown();
      return stopped;
    },
    /** For /healthz: consuming, not stopping, and no record held up by something that needs a fix. */
    healthy: (): boolean => !stopping && consumer.healthy() && faults.size === 0,
    /** For /healthz: why it is not healthy, one line per partition (or record) held up. */
    problems: (): string[] => [
      ...(stopping ? ['stopping'] : consumer.healthy() ? [] : [`the consumer of ${topic} (group ${groupId}) is not running`]),
      ...[...faults].map(([place, why]) => `${place}: ${why}`),
    ],
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
