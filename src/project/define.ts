import type { z } from 'zod';
import type { CommandDefinition } from '../commands/registry';
import type { batchPipelineSchema, ingestPipelineSchema } from './pipelines-file';

/**
 * The typed way to declare what a project runs on kto, in `kto.config.ts`. kto's own
 * pipelines and commands are declared with the same functions; `kto.pipelines.yaml` holds
 * config-only pipelines with the same fields, and both feed one registry (see load.ts).
 */

/** A batch pipeline: consume → commit → process → produce per partition, exactly once into its output topic. */
export type BatchPipelineInput = z.input<typeof batchPipelineSchema>;
/** An HTTP JSON source polled into a topic. */
export type IngestInput = z.input<typeof ingestPipelineSchema>;

export type BatchPipelineDefinition = BatchPipelineInput & { readonly kind: 'batch' };
export type IngestDefinition = IngestInput & { readonly kind: 'ingest' };
export type PipelineDefinition = BatchPipelineDefinition | IngestDefinition;

/**
 * Declares a batch pipeline. Its records become output either through the built-in
 * `aggregation` or through the project's own `processor` module (see `defineReduce` and
 * `defineMap`), whose path is relative to the file that declares the pipeline.
 */
export function defineBatchPipeline(definition: BatchPipelineInput): BatchPipelineDefinition {
  return { ...definition, kind: 'batch' };
}

/** Declares an ingest pipeline: an HTTP JSON source polled for a window and streamed into a topic. */
export function defineIngest(definition: IngestInput): IngestDefinition {
  return { ...definition, kind: 'ingest' };
}

/** An activity the project's workflows call; any async function. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ActivityFunction = (...args: any[]) => Promise<unknown>;

/** What `kto.config.ts` exports (as its default export). */
export interface KtoProjectConfig {
  /** Batch and ingest pipelines, from `defineBatchPipeline` and `defineIngest`. */
  pipelines?: PipelineDefinition[];
  /** Commands the dispatcher may start, from `defineCommand`, beside kto's own `app.send_email_alert`. */
  commands?: CommandDefinition[];
  /**
   * Module exporting the project's workflow functions, relative to the config file. The worker
   * bundles them together with kto's workflows, so they can call kto's building blocks
   * (`kafka-temporal-orchestrator/workflows`) and be started by commands.
   */
  workflowsPath?: string;
  /** The project's activities, registered on the worker beside kto's own. */
  activities?: Record<string, ActivityFunction>;
}

/** Declares a project's configuration with full types; `kto.config.ts` exports the result as default. */
export function defineConfig(config: KtoProjectConfig): KtoProjectConfig {
  return config;
}
