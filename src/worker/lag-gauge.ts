import type { KafkaAdmin } from '../kafka';
import type { Logger } from '../runtime/logger';
import { readGroupLag } from '../status/lag';

/**
 * Keeps `kto_consumer_lag_records` at each batch pipeline's real lag per partition: the group's
 * committed offset against the high watermark, read with `readGroupLag`, the read `kto status`
 * makes. It reads the project's batch pipelines and any other pipeline this worker consumed
 * for (a `kto batch run` with flags), at start and then every `intervalMs`.
 */

export interface LagGaugeOptions {
  admin: Pick<KafkaAdmin, 'watermarks' | 'committedOffsets'>;
  /** Sets the gauge of one partition. */
  set: (pipeline: string, topic: string, partition: number, lag: number) => void;
  intervalMs: number;
  logger: Logger;
}

export interface TrackedPipeline {
  pipeline: string;
  groupId: string;
  topic: string;
}

export function createLagGauge({ admin, set, intervalMs, logger }: LagGaugeOptions) {
  const log = logger.child({ namespace: 'lag-gauge' });
  const tracked = new Map<string, TrackedPipeline>();
  let timer: NodeJS.Timeout | undefined;
  let refreshing: Promise<void> = Promise.resolve();

  async function read(p: TrackedPipeline): Promise<void> {
    try {
      const lag = await readGroupLag(admin, p.groupId, p.topic);
      for (const part of lag.partitions) set(p.pipeline, p.topic, part.partition, part.lag);
    } catch (err) {
      // A topic not created yet, or Kafka away for a moment: the next refresh tries again.
      log.debug({ pipeline: p.pipeline, err: err instanceof Error ? err.message : String(err) }, 'lag not read');
    }
  }

  /** Reads every tracked pipeline, one at a time; a refresh still running is not started twice. */
  const refresh = (): Promise<void> => {
    refreshing = refreshing.then(async () => {
      for (const p of [...tracked.values()]) await read(p);
    });
    return refreshing;
  };

  return {
    /** Adds a pipeline (once); once started, reads its lag at once too. */
    track(p: TrackedPipeline): void {
      const key = `${p.pipeline}\0${p.groupId}\0${p.topic}`;
      if (tracked.has(key)) return;
      tracked.set(key, p);
      if (timer) refreshing = refreshing.then(() => read(p));
    },
    start(): void {
      if (intervalMs <= 0 || timer) return;
      void refresh();
      timer = setInterval(() => void refresh(), intervalMs);
      timer.unref();
    },
    /** Stops refreshing and waits for a read in flight, so Kafka can be closed after it. */
    async stop(): Promise<void> {
      clearInterval(timer);
      timer = undefined;
      await refreshing;
    },
  };
}

export type LagGauge = ReturnType<typeof createLagGauge>;
