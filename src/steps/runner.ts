import { Worker } from 'node:worker_threads';
import type { KafkaConfig } from '../runtime/config';
import { isKtoError, KtoError } from '../runtime/errors';
import { TopicNotFoundError, type KafkaIo } from '../kafka';
import { scriptEntry } from '../runtime/entry';
import { createStepTasks, type Progress, type StepName, type StepTasks } from './tasks';

/**
 * Runs the CPU-heavy batch steps (reading a range into staging, aggregating it) on a small pool
 * of worker threads, so decoding and parsing millions of records uses every core and never
 * starves the Temporal worker's pollers and heartbeats on the main thread. Each thread has its
 * own Kafka client and runs one step at a time; further steps wait in a queue, first come first
 * served. Steps interleaved on one thread only share its core, and they cost more than one after
 * the other: more of their records live at once, so more survive into the old generation and
 * the collector works harder. `threads: 0` runs steps inline, all at once.
 */
export interface StepRunner {
  run<S extends StepName>(step: S, input: Parameters<StepTasks[S]>[0], progress: Progress): ReturnType<StepTasks[S]>;
  /** Stops the threads; steps still running on them fail. */
  close(): Promise<void>;
}

export interface StepRunnerOptions {
  /** Kafka client of this process, for inline steps. */
  kafka: KafkaIo;
  /** What each thread builds its own Kafka client from. */
  kafkaConfig: KafkaConfig;
  logLevel: string;
  /** Threads, started at once; a step goes to an idle one or waits for one. 0 runs steps inline. */
  threads: number;
  /** Old-generation heap of each thread, in MiB: the bound on a worker's memory for batch steps. */
  heapMb: number;
}

/** What a step thread receives at start (see thread-main.ts). */
export interface StepThreadData {
  kafkaConfig: KafkaConfig;
  logLevel: string;
}

export type StepRequest = { id: number; step: StepName; input: unknown };
export type StepReply =
  | { id: number; progress: Record<string, unknown> }
  | { id: number; result: unknown }
  | { id: number; error: SerializedError };

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  topic?: string;
  /** A KtoError's failure type and retryability. */
  type?: string;
  retryable?: boolean;
}

interface Job {
  request: StepRequest;
  resolve: (result: unknown) => void;
  reject: (err: unknown) => void;
  progress: Progress;
}

interface StepThread {
  worker: Worker;
  /** The step running on the thread, if any. */
  running: Job | undefined;
}

const ENTRY = scriptEntry(__dirname, 'thread-main', __filename);

export function createStepRunner({ kafka, kafkaConfig, logLevel, threads: size, heapMb }: StepRunnerOptions): StepRunner {
  if (size === 0) {
    const inline = createStepTasks(kafka);
    return {
      run: (step, input, progress) => inline[step](input as never, progress) as never,
      close: async () => undefined,
    };
  }

  const threads: StepThread[] = [];
  const queue: Job[] = [];
  let nextId = 0;

  /** Hands waiting steps to idle threads; a thread lost to a failure is replaced here, not in a loop. */
  const dispatch = () => {
    while (queue.length > 0) {
      const thread = threads.find((t) => t.running === undefined) ?? (threads.length < size ? spawn() : undefined);
      if (thread === undefined) return;
      const job = queue.shift()!;
      thread.running = job;
      thread.worker.postMessage(job.request);
    }
  };

  const spawn = (): StepThread => {
    const data: StepThreadData = { kafkaConfig, logLevel };
    // A worker started with --cpu-prof (KTO_BENCH_CPU_PROF) profiles its step threads too.
    const execArgv = [...ENTRY.execArgv, ...process.execArgv.filter((arg) => arg.startsWith('--cpu-prof'))];
    const worker = new Worker(ENTRY.file, { execArgv, workerData: data, resourceLimits: { maxOldGenerationSizeMb: heapMb } });
    const thread: StepThread = { worker, running: undefined };
    const fail = (err: unknown) => {
      const at = threads.indexOf(thread);
      if (at >= 0) threads.splice(at, 1);
      const reason =
        (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new Error(`a batch step thread ran out of memory (heap limit ${heapMb} MiB): raise KTO_STEP_HEAP_MB (count-distinct keeps every distinct value of the range it aggregates)`)
          : err;
      thread.running?.reject(reason);
      thread.running = undefined;
      dispatch();
    };
    worker.on('message', (reply: StepReply) => {
      const job = thread.running;
      if (job === undefined || job.request.id !== reply.id) return;
      if ('progress' in reply) return job.progress(reply.progress);
      thread.running = undefined;
      if ('error' in reply) job.reject(deserializeError(reply.error));
      else job.resolve(reply.result);
      dispatch();
    });
    worker.once('error', fail);
    worker.once('exit', (code) => {
      if (threads.includes(thread)) fail(new Error(`a batch step thread exited with code ${code}`));
    });
    // The worker's shutdown closes the runner; idle threads alone must not keep a process alive.
    worker.unref();
    threads.push(thread);
    return thread;
  };
  // Threads load their modules now, not in the middle of a run's first steps.
  for (let i = 0; i < size; i++) spawn();

  return {
    run(step, input, progress) {
      return new Promise((resolve, reject) => {
        queue.push({ request: { id: nextId++, step, input }, resolve, reject, progress });
        dispatch();
      }) as never;
    },
    async close() {
      for (const job of queue.splice(0)) job.reject(new Error('the batch step runner closed before the step started'));
      await Promise.all(threads.map((t) => t.worker.terminate()));
    },
  };
}

export function serializeError(err: unknown): SerializedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const kto = isKtoError(err) ? { type: err.type, retryable: err.retryable } : {};
  return { name: err.name, message: err.message, stack: err.stack, topic: err instanceof TopicNotFoundError ? err.topic : undefined, ...kto };
}

/** Errors keep the class kto's activities branch on, and a KtoError what a retry can do, across the thread boundary. */
function deserializeError(e: SerializedError): Error {
  const err =
    e.name === 'TopicNotFoundError' && e.topic !== undefined
      ? new TopicNotFoundError(e.topic)
      : e.type !== undefined
        ? new KtoError(e.message, { type: e.type, retryable: e.retryable })
        : Object.assign(new Error(e.message), { name: e.name });
  if (e.stack) err.stack = e.stack;
  return err;
}
