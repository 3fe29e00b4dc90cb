import { existsSync, readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import type { KtoConfig } from '../../src/runtime/config';
import { createKafkaIo, type KafkaIo } from '../../src/kafka';
import { createLogger, type Logger } from '../../src/runtime/logger';
import { connectClient } from '../../src/temporal/connection';
import { runWorker } from '../../src/worker';
import { testConfig, uniqueTopic } from './helpers';

/** The workflow code the global setup bundled once for the whole run, when there is one. */
export function testWorkflowBundle(): { code: string } | undefined {
  const file = process.env.KTO_TEST_WORKFLOW_BUNDLE;
  return file && existsSync(file) ? { code: readFileSync(file, 'utf8') } : undefined;
}

/** A kto worker in this process on `config.temporal.taskQueue`; `stop()` drains it. */
export function startTestWorker(config: KtoConfig, logger: Logger) {
  let stop: () => void = () => undefined;
  const running = runWorker({ config, logger, stopSignal: new Promise<void>((resolve) => (stop = resolve)), workflowBundle: testWorkflowBundle() });
  return {
    running,
    async stop() {
      stop();
      await running;
    },
  };
}

export interface TestEnv {
  /** The test stack's config with a task queue of this file's own. */
  config: KtoConfig;
  logger: Logger;
  kafka: KafkaIo;
  client: Client;
}

/**
 * The frame of an integration test file: a unique task queue, Kafka and Temporal clients and,
 * unless `worker: false`, an in-process worker on that queue; all closed after the file.
 * The fields are filled in `beforeAll`.
 */
export function useTestEnv(queuePrefix: string, options: { worker?: boolean } = {}): TestEnv {
  const env = {} as TestEnv;
  let worker: ReturnType<typeof startTestWorker> | undefined;
  beforeAll(async () => {
    const base = testConfig();
    env.config = { ...base, temporal: { ...base.temporal, taskQueue: uniqueTopic(queuePrefix) } };
    env.logger = createLogger({ level: process.env.KTO_TEST_LOG_LEVEL ?? 'warn', pretty: false });
    env.kafka = createKafkaIo(env.config.kafka, env.logger);
    env.client = await connectClient(env.config.temporal);
    if (options.worker !== false) worker = startTestWorker(env.config, env.logger);
  });
  afterAll(async () => {
    await worker?.stop();
    await env.kafka?.close();
    await env.client?.connection.close();
  });
  return env;
}
