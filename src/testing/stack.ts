import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { startBatchRun, waitForBatchRun } from '../temporal/batch-run';
import { loadConfig, type KtoConfig } from '../runtime/config';
import { abandonedRunDirs, claimRunDir, createDevStack, endpointEnv, findFreeStackPorts, releaseRunDir, type KafkaSaslEndpoint } from '../devstack';
import { runDispatcher } from '../dispatcher/run';
import { jsonCommandRecord, sendCommandRecord } from '../dispatcher/records';
import { createKafkaIo, type KafkaIo } from '../kafka';
import { createLogger, type Logger } from '../runtime/logger';
import { declaringFiles, loadPipelines, type LoadedPipelines } from '../project/load';
import { batchOptionsOf, findBatchPipeline } from '../project/pipelines-file';
import type { BatchReport } from '../shared/batch';
import { connectClient } from '../temporal/connection';
import { runWorker } from '../worker';
import { producerBytes } from './values';

/**
 * The local stack for a project's integration tests: Temporal, Kafka, the SMTP sink and the
 * schema registry on free ports, with a kto worker and dispatcher that load the project's
 * kto.config.ts, as `kto worker` and `kto dispatcher` would.
 */

/** Options of {@link startTestStack}. */
export interface TestStackOptions {
  /** Where the project's kto.config.ts (or KTO_CONFIG) is found. @default process.cwd() */
  cwd?: string;
  /** Parent of the stack's state folder (one `run-<pid>` folder per test process). @default `<cwd>/.devstack/test` */
  dir?: string;
  /** Download cache, shared with `kto dev up`. @default KTO_DEVSTACK_CACHE_DIR, else `<cwd>/.devstack/cache` */
  cacheDir?: string;
  /** Run the command dispatcher too (it consumes the stack's own commands topic). @default true */
  dispatcher?: boolean;
  /** Level of kto's logs on stderr. @default KTO_LOG_LEVEL, else 'warn' */
  logLevel?: string;
  /**
   * Kafka adds a SASL_SSL listener (PLAIN and SCRAM-SHA-512 users, a CA of its own) beside the
   * PLAINTEXT one kto's processes use; {@link TestStack.kafkaSasl} says how to reach it. @default false
   */
  kafkaSasl?: boolean;
}

/** A record for {@link TestStack.produce}. */
export interface TestRecord {
  /** Kafka key. @default null */
  key?: string | null;
  /** Objects and arrays are written as JSON, strings as UTF-8, Buffers as they are; null or undefined is a tombstone. */
  value: unknown;
  /** Kafka headers. */
  headers?: Record<string, string>;
  /** @default chosen by the key, or round-robin without one */
  partition?: number;
}

/** A record as {@link TestStack.readTopic} gives it. */
export interface ReadRecord {
  partition: number;
  offset: number;
  /** Kafka key, or null. */
  key: string | null;
  /** JSON-parsed when the value is JSON, else the string; null for a tombstone. */
  value: unknown;
  /** Kafka headers as strings, kto's own (`kto-pipeline`, `kto-error-reason`, …) included. */
  headers: Record<string, string>;
}

/**
 * A running test stack, as {@link startTestStack} returns it. Call `stop()` when the tests are
 * done (e.g. in `after`). A call after the worker or dispatcher failed (a project whose workflows
 * do not bundle, say) throws that failure instead of timing out.
 */
export interface TestStack {
  /** kto's configuration pointing at this stack: a task queue and commands topic of its own. */
  readonly config: KtoConfig;
  /** The project as the worker loaded it. */
  readonly project: LoadedPipelines;
  /** A Temporal client connected to the stack, e.g. to start a project workflow on `config.temporal.taskQueue`. */
  readonly client: Client;
  /** The SASL_SSL listener, its CA file and a ready client properties file per mechanism, with `kafkaSasl: true`. */
  readonly kafkaSasl?: KafkaSaslEndpoint;
  /** kto's own Kafka client for this stack (admin, produce, readTopic); prefer the methods below. */
  readonly kafka: KafkaIo;
  /** Creates topics (no-op for existing ones), e.g. before a pipeline reads or writes them. @default 1 partition each */
  createTopics(topics: Array<{ topic: string; partitions?: number }>): Promise<void>;
  /** Writes records to a topic (idempotent producer, acks=all, outside any transaction). */
  produce(topic: string, records: TestRecord[]): Promise<void>;
  /** What a read_committed consumer sees of the whole topic, partition by partition. */
  readTopic(topic: string): Promise<ReadRecord[]>;
  /**
   * Runs a declared batch pipeline now, as `kto batch run` does, and returns its report once the
   * run completes (not waiting for the runs it starts downstream through `after:`).
   * @throws Error when the project declares no batch pipeline of that name;
   *   BatchAlreadyRunningError while a run of the pipeline is in flight; BatchRunFailedError when the run fails.
   */
  runBatch(pipeline: string): Promise<BatchReport>;
  /** Puts a command on the stack's commands topic as JSON, as `kto command send` does; the dispatcher (`dispatcher: true`) starts it. */
  sendCommand(command: string, params: unknown, options?: { idempotencyKey?: string }): Promise<void>;
  /**
   * The result of a workflow by id (e.g. a command's idempotency key): waits up to `timeoutMs`
   * (default 60 000) for it to exist, then for its result.
   * @throws Error `no workflow <id> started within <n> ms`; the workflow's failure (WorkflowFailedError).
   */
  workflowResult<T = unknown>(workflowId: string, timeoutMs?: number): Promise<T>;
  /** Stops the dispatcher, the worker and the services this call started. */
  stop(): Promise<void>;
}

/**
 * Starts a private stack (about 10 s once the downloads are cached; the first call downloads
 * them like `kto dev up`), one per process at a time, in `<dir>/run-<pid>`; a stack left by a
 * test process that died is stopped first. Then it loads the project from `cwd` and starts a
 * worker (and the dispatcher) serving it on a task queue and commands topic of their own.
 *
 * With `KTO_TEST_STACK=external` it uses the stack the KTO_* variables point at instead (one
 * from `kto dev up`, or CI's) and starts only kto's processes: the project's topics, consumer
 * groups and workflow ids are then the real ones, and what earlier runs wrote is still there.
 * @throws PipelinesFileError when the project does not load; ConfigError for invalid KTO_*
 *   variables; the stack's own error when a service does not start (its services are stopped).
 */
export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const logger = createLogger({ level: options.logLevel ?? process.env.KTO_LOG_LEVEL ?? 'warn', pretty: false });
  const external = process.env.KTO_TEST_STACK === 'external';
  const services = external ? null : await startServices(cwd, options);
  try {
    const base = loadConfig({ ...process.env, ...services?.env });
    const id = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const config: KtoConfig = {
      ...base,
      temporal: { ...base.temporal, taskQueue: `kto-test-${id}` },
      dispatcher: { ...base.dispatcher, topic: `kto.test.${id}.commands`, groupId: `kto-test-${id}-dispatcher`, deadLetterTopic: `kto.test.${id}.commands.dead-letter` },
    };
    const project = loadPipelines(process.env, cwd);
    return { ...(await startKto(config, project, logger, options.dispatcher ?? true, services?.stop)), kafkaSasl: services?.kafkaSasl };
  } catch (err) {
    await services?.stop();
    throw err;
  }
}

async function startServices(cwd: string, options: TestStackOptions): Promise<{ env: Record<string, string>; kafkaSasl?: KafkaSaslEndpoint; stop(): Promise<void> }> {
  const parent = path.resolve(options.dir ?? path.join(cwd, '.devstack', 'test'));
  const ports = await findFreeStackPorts();
  const cacheDir = path.resolve(options.cacheDir ?? process.env.KTO_DEVSTACK_CACHE_DIR ?? path.join(cwd, '.devstack', 'cache'));
  const stackOf = (dir: string) => createDevStack({ dir, cacheDir, ports, kafkaVersion: process.env.KTO_DEV_KAFKA_VERSION, kafkaSasl: options.kafkaSasl });
  // Stacks of test runs that died without stopping them (Ctrl-C, kill -9).
  for (const dir of abandonedRunDirs(parent)) await stackOf(dir).down();
  const dir = claimRunDir(parent);
  const stack = stackOf(dir);
  const stop = async () => {
    await stack.down();
    releaseRunDir(dir);
  };
  try {
    const endpoints = await stack.up();
    return { env: { ...endpointEnv(dir, endpoints), KTO_SCHEMA_REGISTRY_URL: endpoints.schemaRegistryUrl }, kafkaSasl: endpoints.kafkaSasl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startKto(config: KtoConfig, project: LoadedPipelines, logger: Logger, withDispatcher: boolean, stopServices?: () => Promise<void>): Promise<TestStack> {
  const kafka = createKafkaIo(config.kafka, logger);
  const client = await connectClient(config.temporal);
  let stopSignal!: () => void;
  const stopping = new Promise<void>((resolve) => (stopSignal = resolve));
  const worker = runWorker({ config, logger, stopSignal: stopping, project });
  const dispatcher = withDispatcher ? runDispatcher({ config, logger, stopSignal: stopping, commands: project.commands }) : Promise.resolve();
  // A worker or dispatcher that failed (a project that does not bundle, say) fails the next call instead of leaving it to time out.
  let failure: unknown;
  void Promise.all([worker, dispatcher]).catch((err: unknown) => (failure = err));
  const healthy = () => {
    if (failure) throw failure;
  };

  const pipelineOptions = (name: string) => {
    const found = findBatchPipeline(project, name);
    if (!found) throw new Error(`no batch pipeline "${name}" in ${declaringFiles(project).join(' or ') || 'this project'} (known: ${project.batch.map((p) => p.name).join(', ') || 'none'})`);
    return batchOptionsOf(found);
  };

  return {
    config,
    project,
    client,
    kafka,
    createTopics: (topics) => kafka.admin.ensureTopics(topics.map((t) => ({ topic: t.topic, partitions: t.partitions ?? 1 }))),
    produce: (topic, records) =>
      kafka.produce(records.map((r) => ({ topic, partition: r.partition, key: r.key ?? null, value: producerBytes(r.value), headers: r.headers }))),
    async readTopic(topic) {
      const records = await kafka.readTopic({ topic });
      return records.map((r) => ({ partition: r.partition, offset: Number(r.offset), key: r.key, value: decodeValue(r.value), headers: r.headers }));
    },
    async runBatch(name) {
      healthy();
      return waitForBatchRun(await startBatchRun({ client, config, pipeline: pipelineOptions(name) }));
    },
    sendCommand: (command, params, options = {}) => sendCommandRecord(kafka, config.dispatcher.topic, jsonCommandRecord({ command, params, idempotencyKey: options.idempotencyKey })),
    async workflowResult<T>(workflowId: string, timeoutMs = 60_000): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        healthy();
        try {
          await client.workflow.getHandle(workflowId).describe();
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`no workflow ${workflowId} started within ${timeoutMs} ms (${(err as Error).message})`);
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
      return client.workflow.getHandle(workflowId).result() as Promise<T>;
    },
    async stop() {
      stopSignal();
      await Promise.allSettled([worker, dispatcher]);
      await kafka.close();
      await client.connection.close();
      await stopServices?.();
    },
  };
}

function decodeValue(value: string | null): unknown {
  if (value === null) return null;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
