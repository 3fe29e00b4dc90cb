import type { Kafka } from 'kafkajs';

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
