import type { Client } from '@temporalio/client';
import type { KtoConfig } from '../src/runtime/config';
import type { KafkaIo } from '../src/kafka';

/**
 * The contract between `bench/run.ts` and one benchmark part (batch, dispatcher, …): the runner
 * starts one private stack, hands each part its clients, and writes what the part returns.
 */

export interface BenchContext {
  /** kto's configuration pointing at the bench stack, as a worker process would parse it. */
  config: KtoConfig;
  /** Environment for child processes (workers, dispatchers): the stack's endpoints as KTO_* vars. */
  env: Record<string, string>;
  kafka: KafkaIo;
  temporal: Client;
  /** Scratch folder of this run (worker logs, staging files); kept when the run fails. */
  dir: string;
  /** One human-readable line per step. */
  progress: (line: string) => void;
}

/** One line of the results table. */
export interface BenchRow {
  metric: string;
  measured: string;
  /** What the measurement should reach, in words (`≥ 0.5 × baseline`); absent for context rows. */
  target?: string;
  pass?: boolean;
}

export interface PartResult {
  rows: BenchRow[];
  /** Raw measurements, written to `bench/results/<part>.json`. */
  measurements: Record<string, unknown>;
}

export interface BenchPart {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<PartResult>;
}
