import type { Consumer, ConsumerRunConfig, IHeaders, Kafka, KafkaMessage } from 'kafkajs';
import { errorChain } from '../runtime/errors';
import type { Logger } from '../runtime/logger';

/** One record as the group consumer hands it over; offsets are bigint like the rest of src/kafka. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  /** Header values decoded as UTF-8; a repeated header keeps its last value. */
  headers: Record<string, string>;
  /** The record's timestamp (produce time, or log-append time if the topic says so), ms since the epoch. */
  timestampMs: number;
}

export interface GroupConsumerOptions {
  groupId: string;
  topic: string;
  /**
   * Takes one record. Records of a partition arrive one at a time in offset order: the next one
   * comes after the returned promise resolves `true` (accepted; the caller tracks and commits it).
   * Resolving `false` leaves the record and the rest of its batch unaccepted: they are fetched
   * again after the next rebalance or restart. Slow acceptance is back-pressure; the consumer
   * keeps heartbeating meanwhile.
   */
  accept(record: ConsumedRecord): Promise<boolean>;
  /** Called after every group (re)join with this member's partitions of `topic`. */
  onAssignment?(partitions: number[]): void;
  /** Where a group without committed offsets starts. @default true (earliest: nothing produced before the first start is skipped) */
  fromBeginning?: boolean;
  /** @default 30_000 */
  sessionTimeoutMs?: number;
  /** @default 3_000 */
  heartbeatIntervalMs?: number;
}

function withDefaults(options: GroupConsumerOptions) {
  return { fromBeginning: true, sessionTimeoutMs: 30_000, heartbeatIntervalMs: 3_000, ...options };
}

function headerText(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(headers ?? {})) {
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (value !== undefined) out[name] = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  }
  return out;
}

function toRecord(topic: string, partition: number, m: KafkaMessage): ConsumedRecord {
  return {
    topic,
    partition,
    offset: BigInt(m.offset),
    key: m.key ?? null,
    value: m.value ?? null,
    headers: headerText(m.headers),
    timestampMs: Number(m.timestamp),
  };
}

/**
 * What a commit fails with when the group's coordinator is gone: its broker died or handed the
 * group over. kafkajs keeps committing to the broker it joined through and only looks for the
 * new coordinator after its fetch loop has used up its retries (a minute or more).
 */
const COORDINATOR_GONE_NAMES = ['KafkaJSBrokerNotFound', 'KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError'];
const COORDINATOR_GONE_TYPES = ['NOT_COORDINATOR_FOR_GROUP', 'GROUP_COORDINATOR_NOT_AVAILABLE'];

export function coordinatorGone(err: unknown): boolean {
  for (const e of errorChain(err)) if (COORDINATOR_GONE_NAMES.includes(e.name ?? '') || COORDINATOR_GONE_TYPES.includes(e.type ?? '')) return true;
  return false;
}

/** Keeps group membership alive while `work` is pending (kafkajs only heartbeats between batches). */
async function heartbeating<T>(work: Promise<T>, heartbeat: () => Promise<void>, everyMs: number): Promise<T> {
  const timer = setInterval(() => void heartbeat().catch(() => undefined), everyMs);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/**
 * A consumer-group member with auto-commit off: it hands records over one partition at a time
 * in offset order and commits only the offsets the caller names. Stopping is two steps so the
 * caller can drain and commit while still a group member: `pause()` stops intake, `close()`
 * leaves the group and disconnects.
 */
export function createGroupConsumer(kafka: Kafka, logger: Logger, options: GroupConsumerOptions) {
  const o = withDefaults(options);
  const log = logger.child({ namespace: 'group-consumer', groupId: o.groupId, topic: o.topic });
  const consumer: Consumer = kafka.consumer({
    groupId: o.groupId,
    sessionTimeout: o.sessionTimeoutMs,
    heartbeatInterval: o.heartbeatIntervalMs,
    // Commands are small; a modest fetch keeps what sits in memory unaccepted bounded.
    maxBytesPerPartition: 1024 * 1024,
    retry: { retries: 10 },
  });
  let running = false;
  let paused = false;
  let crashed: Error | undefined;
  let rejoining: Promise<void> | undefined;

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const partitions = (payload.memberAssignment[o.topic] ?? []).slice().sort((a, b) => a - b);
    log.info({ partitions }, 'joined consumer group');
    o.onAssignment?.(partitions);
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    crashed = payload.restart ? undefined : payload.error;
    log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
  });

  const runConfig: ConsumerRunConfig = {
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      for (const message of batch.messages) {
        if (paused || !isRunning() || isStale()) return;
        const accepted = await heartbeating(o.accept(toRecord(batch.topic, batch.partition, message)), heartbeat, o.heartbeatIntervalMs);
        if (!accepted) return;
        // Moves the fetch position only; the group offset moves when the caller commits.
        resolveOffset(message.offset);
      }
    },
  };

  /**
   * Leaves the kafkajs group session and joins again, which looks the coordinator up afresh.
   * The partitions come back through a rebalance (`onAssignment`), from their committed offsets.
   */
  function rejoin(): void {
    rejoining ??= (async () => {
      log.warn('offset commit failed because the group coordinator is gone: joining the group again through its new coordinator');
      await consumer.stop();
      if (running && !paused) await consumer.run(runConfig);
      crashed = undefined;
    })()
      .catch((err: unknown) => {
        crashed = err as Error;
        log.error({ err }, 'joining the group again failed; the next failed commit tries again');
      })
      .finally(() => {
        rejoining = undefined;
      });
  }

  return {
    /** Connects, subscribes and starts fetching; resolves once the consumer runs (the first join may follow). */
    async start(): Promise<void> {
      await consumer.connect();
      await consumer.subscribe({ topic: o.topic, fromBeginning: o.fromBeginning });
      running = true;
      await consumer.run(runConfig);
    },

    /**
     * Commits, per partition, `offset` = the first record not yet done (Kafka's "next offset to read").
     * A commit that fails because the coordinator is gone makes the member join again (see
     * `rejoin`); the caller retries the commit.
     */
    async commit(positions: { partition: number; offset: bigint }[]): Promise<void> {
      if (positions.length === 0) return;
      try {
        await consumer.commitOffsets(positions.map((p) => ({ topic: o.topic, partition: p.partition, offset: p.offset.toString() })));
      } catch (err) {
        if (running && !paused && coordinatorGone(err)) rejoin();
        throw err;
      }
    },

    /** Stops intake: no record is handed over after this, but the member stays in the group so commits still land. */
    pause(): void {
      paused = true;
      if (running) consumer.pause([{ topic: o.topic }]);
    },

    resume(): void {
      paused = false;
      if (running) consumer.resume([{ topic: o.topic }]);
    },

    /** True while the consumer runs and has not crashed beyond kafkajs' own restarts. */
    healthy(): boolean {
      return running && crashed === undefined;
    },

    /** Leaves the group and disconnects. */
    async close(): Promise<void> {
      running = false;
      await rejoining;
      await consumer.disconnect();
    },
  };
}

export type GroupConsumer = ReturnType<typeof createGroupConsumer>;
