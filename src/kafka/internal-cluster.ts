import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { backoffDelay } from '../runtime/backoff';

/**
 * The parts of kafkajs' internal cluster and broker that kto uses (kafkajs 2.2): requests the
 * public clients do not offer, such as a stable offset read (offset-fetch.ts) and a fetch of one
 * partition without a consumer group (range-reader.ts).
 */

export interface InternalBroker {
  connectionPool: { send(request: unknown): Promise<unknown> };
}

export interface InternalCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  refreshMetadataIfNecessary(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  findGroupCoordinator(options: { groupId: string }): Promise<InternalBroker>;
  /** Partitions by the node id of their leader. */
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(options: { nodeId: string }): Promise<InternalBroker>;
  fetchTopicsOffset(
    topics: { topic: string; fromBeginning: boolean; partitions: { partition: number }[] }[],
  ): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}

/** kafkajs builds every client on a cluster made by this private factory. */
export function createInternalCluster(kafka: Kafka): InternalCluster {
  const key = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  const create = key && (kafka as unknown as Record<symbol, unknown>)[key];
  if (typeof create !== 'function') throw new Error('this kafkajs release has no private cluster factory; kto needs kafkajs 2.2');
  return (create as (options: object) => InternalCluster)({});
}

/** How long a request rides out a moved leader or a lost connection before it fails. */
const RETRY_WITHIN_MS = 30_000;

/**
 * Runs `request` against fresh metadata for `topic`, again while it fails on a moved leader,
 * lagging metadata or a lost connection (kafkajs marks those retriable), for up to 30 s.
 */
export async function withLeaderRetry<T>(cluster: () => Promise<InternalCluster>, topic: string, request: (c: InternalCluster) => Promise<T>): Promise<T> {
  const deadline = Date.now() + RETRY_WITHIN_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      const c = await cluster();
      await c.addTargetTopic(topic);
      await c.refreshMetadataIfNecessary();
      return await request(c);
    } catch (err) {
      const e = err as Error & { retriable?: boolean };
      const retriable = e.retriable === true || /Connection|BrokerNotFound|LockTimeout/.test(e.name);
      if (!retriable || Date.now() >= deadline) throw err;
      await cluster().then((c) => c.refreshMetadata()).catch(() => undefined);
      await sleep(backoffDelay(attempt, { initialMs: 100, maxMs: 2_000 }));
    }
  }
}
