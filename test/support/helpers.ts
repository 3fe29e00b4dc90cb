import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin } from 'kafkajs';
import { loadConfig, type KtoConfig } from '../../src/runtime/config';
import { createLogger } from '../../src/runtime/logger';

export interface WaitForOptions {
  /** @default 15_000 */
  timeoutMs?: number;
  /** @default 100 */
  intervalMs?: number;
  /** Named in the timeout error, e.g. 'consumer group to commit offset 10'. @default the function's source */
  description?: string;
}

/**
 * Polls `fn` until it returns a truthy value and returns that value, instead of sleeping a
 * guessed time. An exception from `fn` counts as "not yet"; the last one is quoted on timeout.
 */
export async function waitFor<T>(fn: () => T | Promise<T>, options: WaitForOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 15_000, intervalMs = 100 } = options;
  const description = options.description ?? fn.toString().replace(/\s+/g, ' ').slice(0, 120);
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let lastValue: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      lastValue = value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const last = lastError ? `last error: ${(lastError as Error).message ?? String(lastError)}` : `last value: ${JSON.stringify(lastValue)}`;
      throw new Error(`waitFor timed out after ${timeoutMs} ms waiting for ${description} (${last})`);
    }
    await sleep(intervalMs);
  }
}

/** A topic name no other test (or earlier run on the same broker) uses. */
export function uniqueTopic(prefix = 'test'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** kto's configuration as the code under test sees it: the test stack's endpoints from the global setup. */
export function testConfig(): KtoConfig {
  if (!process.env.KTO_DEVSTACK_DIR) {
    throw new Error('The test stack is not running: integration tests need the jest global setup (run them with `--selectProjects integration`).');
  }
  return loadConfig(process.env);
}

/** Creates a topic and waits until every partition has a leader, so the first produce does not race it. */
export async function createTopic(admin: Admin, topic: string, partitions = 1): Promise<string> {
  // kafkajs' waitForLeaders gives up on the first UNKNOWN_TOPIC_OR_PARTITION; the loop below waits instead.
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: false });
  await waitFor(async () => {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    if (meta.topics[0]?.partitions.length !== partitions || !meta.topics[0].partitions.every((p) => p.leader >= 0)) return false;
    return (await admin.fetchTopicOffsets(topic)).length === partitions;
  }, { description: `topic ${topic} to have ${partitions} partitions served by their leaders` });
  return topic;
}

/** A local port nothing listens on: bound once by the OS, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A JSON logger at info whose lines the test reads back as one text. */
export function captureLogs() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger({ level: 'info', pretty: false, destination }), text: () => lines.join('') };
}
