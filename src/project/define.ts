import type { z } from 'zod';
import type { CommandDefinition } from '../commands/registry';
import type { JsonValue } from '../shared/ingest';
import type { batchPipelineSchema, ingestPipelineSchema } from './pipelines-file';

/**
 * The typed way to declare what a project runs on kto, in `kto.config.ts`. kto's own
 * pipelines and commands are declared with the same functions; `kto.pipelines.yaml` holds
 * config-only pipelines with the same fields, and both feed one registry (see load.ts).
 */

/** A batch pipeline: consume → commit → process → produce per partition, exactly once into its output topic. */
export type BatchPipelineInput = z.input<typeof batchPipelineSchema>;
/**
 * A source polled into a topic: the project's own `source` module (with its `sourceOptions`),
 * or `url`, an endpoint in the random-user format polled by kto's built-in source.
 */
export type IngestInput = Omit<z.input<typeof ingestPipelineSchema>, 'source' | 'sourceOptions' | 'url' | 'credentialsEnv' | 'followRedirects' | 'maxResponseBytes'> &
  (
    | { source: string; sourceOptions?: JsonValue; url?: never; credentialsEnv?: never; followRedirects?: never; maxResponseBytes?: never }
    | { url: string; credentialsEnv?: string; followRedirects?: boolean; maxResponseBytes?: number; source?: never; sourceOptions?: never }
  );

/** A batch pipeline as {@link defineBatchPipeline} returns it: its fields, tagged `kind: 'batch'`. */
export type BatchPipelineDefinition = BatchPipelineInput & { readonly kind: 'batch' };
/** An ingest pipeline as {@link defineIngest} returns it: its fields, tagged `kind: 'ingest'`. */
export type IngestDefinition = IngestInput & { readonly kind: 'ingest' };
/** What {@link KtoProjectConfig.pipelines} lists; the `kind` tag tells the loader which schema to apply. */
export type PipelineDefinition = BatchPipelineDefinition | IngestDefinition;

/**
 * Declares a batch pipeline. Its records become output either through the built-in
 * `aggregation` or through the project's own `processor` module (see `defineReduce` and
 * `defineMap`), whose path is relative to the file that declares the pipeline.
 *
 * It only tags the fields; they are validated when the project is loaded (by every `kto`
 * command, the worker and `startTestStack`), which throws a `PipelinesFileError` naming the file,
 * the pipeline, the field and the fix: `processor` with `aggregation`, `after` with `schedule`,
 * an `after` naming no batch pipeline, a cycle of `after`s, a name used twice across
 * `kto.config.ts` and `kto.pipelines.yaml`.
 * @example
 * defineBatchPipeline({
 *   name: 'service-latency',
 *   topic: 'access-log',
 *   outputTopic: 'service-latency', // co-partitioned with topic: kto topics create service-latency --like access-log
 *   groupId: 'service-latency',
 *   processor: './processors/service-latency.ts',
 *   schedule: { cron: '@hourly' },
 *   onFailure: { email: ['data-oncall@example.com'] }, // one alert per failed run; default: KTO_ALERT_EMAIL
 * });
 */
export function defineBatchPipeline(definition: BatchPipelineInput): BatchPipelineDefinition {
  return { ...definition, kind: 'batch' };
}

/**
 * Declares an ingest pipeline: a source polled every `intervalMs` for `windowMs` (a run, on its
 * `schedule` or through `kto ingest run`), each record written to `topic` with its key. `source`
 * is the path of a module whose default export is `defineSource({ fetch, key })`, relative to
 * the file that declares the pipeline; the worker loads it by pipeline name, so the workflow
 * input carries only the name and `sourceOptions` (given to the source as `ctx.options`).
 *
 * `url` instead of `source` polls an endpoint in the random-user format. Its credentials stay in
 * the worker's environment: `credentialsEnv` names the variable holding `user:password`, sent as
 * Basic authentication, because the workflow's input is stored in Temporal and shown in its UI;
 * a url with `user:password@` in it is refused when the project is loaded.
 * @example
 * defineIngest({
 *   name: 'orders',
 *   topic: 'orders',
 *   source: './sources/orders.ts',
 *   sourceOptions: { url: 'https://shop.example.com/api/orders' },
 *   intervalMs: 5_000,
 *   windowMs: 60_000,
 *   schedule: { cron: '* * * * *', enabled: true },
 * });
 * @example
 * defineIngest({
 *   name: 'users',
 *   topic: 'users',
 *   url: 'https://users.example.com/api/?results=5',
 *   credentialsEnv: 'USERS_API_CREDENTIALS', // `user:password`, in every worker's environment
 * });
 */
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

/**
 * Declares a project's configuration with full types; `kto.config.ts` exports the result as
 * default. It returns `config` as it is: the loader checks it (see {@link defineBatchPipeline}).
 * @example
 * export default defineConfig({
 *   pipelines: [defineBatchPipeline({ ... })],
 *   commands: [defineCommand({ ... })],
 *   workflowsPath: './workflows.ts',
 *   activities: { formatNotice },
 * });
 */
export function defineConfig(config: KtoProjectConfig): KtoProjectConfig {
  return config;
}
