import { Kafka, logLevel, type Admin } from 'kafkajs';
import { kafkaServiceName } from '../../src/devstack';
import type { KtoConfig } from '../../src/runtime/config';
import { waitFor } from './helpers';
import { testStack } from './test-stack';

/**
 * The brokers of the cluster project's three-node stack: which node leads a partition or
 * coordinates transactions, kill -9 of one node and its restart.
 */
export function useCluster(config: () => KtoConfig) {
  let admin: Admin | undefined;
  const connected = async (): Promise<Admin> => {
    if (!admin) {
      admin = new Kafka({ brokers: config().kafka.brokers, clientId: 'kto-test-cluster', logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
    }
    return admin;
  };
  const stack = () => testStack(process.env.KTO_DEVSTACK_DIR!, config().devstack.ports);
  const node = async (id: number) => (await stack().status()).find((s) => s.service === kafkaServiceName(id));

  afterAll(async () => {
    await admin?.disconnect();
  });

  /**
   * Resolves `seen` when the first record of `topic` is written, committed or not: a
   * read_uncommitted reader sees a transaction's records before its commit, so a kill then
   * lands while the transaction is open.
   */
  async function watchFirstRecord(topic: string) {
    const consumer = new Kafka({ brokers: config().kafka.brokers, clientId: 'kto-test-watch', logLevel: logLevel.NOTHING }).consumer({
      groupId: `kto-test-watch-${topic}`,
      readUncommitted: true,
      maxWaitTimeInMs: 20,
    });
    let seen!: () => void;
    const first = new Promise<void>((resolve) => (seen = resolve));
    const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachBatch: async ({ batch }) => void (batch.messages.length > 0 && seen()) });
    await joined;
    return { seen: first, stop: () => consumer.disconnect() };
  }

  return {
    watchFirstRecord,

    /**
     * Creates topics on all three brokers and waits until each replica is in sync. kafkajs's own
     * wait for leaders gives up when the broker it asks has not heard of the topic yet.
     */
    async createTopics(topics: string[], partitions: number, options: { firstLeader?: number } = {}): Promise<void> {
      const a = await connected();
      // With `firstLeader`, partition p is led by node firstLeader + p (round the three nodes).
      const replicaAssignment = (first: number) =>
        Array.from({ length: partitions }, (_, p) => ({ partition: p, replicas: [0, 1, 2].map((r) => ((first - 1 + p + r) % 3) + 1) }));
      await a.createTopics({
        topics: topics.map((topic) => (options.firstLeader ? { topic, replicaAssignment: replicaAssignment(options.firstLeader) } : { topic, numPartitions: partitions })),
        waitForLeaders: false,
      });
      await waitFor(async () => {
        const meta = await a.fetchTopicMetadata({ topics });
        return meta.topics.every((t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length));
      }, { description: `${topics.join(', ')} in sync on every broker` });
    },

    /** The node id of the leader of `topic`'s `partition` (e.g. `__transaction_state` 0: the transaction coordinator). */
    async leaderOf(topic: string, partition = 0): Promise<number> {
      return waitFor(async () => {
        const meta = await (await connected()).fetchTopicMetadata({ topics: [topic] });
        const leader = meta.topics[0].partitions.find((p) => p.partitionId === partition)?.leader ?? -1;
        return leader >= 0 ? leader : undefined;
      }, { description: `a leader of ${topic}-${partition}` });
    },

    /**
     * Looks up broker `id`'s process now, so that the returned kill -9 lands at once when called;
     * the kill returns once the broker's ports are free.
     */
    async killer(id: number): Promise<() => Promise<void>> {
      const pid = (await node(id))?.pid;
      if (pid === undefined) throw new Error(`broker ${id} is not running`);
      return async () => {
        process.kill(pid, 'SIGKILL');
        await waitFor(async () => (await node(id))?.state === 'stopped', { timeoutMs: 30_000, description: `broker ${id} to be down and its ports free` });
      };
    },

    /** Starts what is down again and waits until every replica of `topics` is back in sync. */
    async restart(topics: string[]): Promise<void> {
      await stack().up();
      await waitFor(async () => {
        const meta = await (await connected()).fetchTopicMetadata({ topics });
        return meta.topics.every((t) => t.partitions.every((p) => p.isr.length === p.replicas.length));
      }, { timeoutMs: 60_000, description: `every replica of ${topics.join(', ')} in sync` });
    },
  };
}
