/**
 * kafka-temporal-orchestrator: what a project imports in `kto.config.ts`, its processors and its sources.
 * Workflow code imports `kafka-temporal-orchestrator/workflows` instead (nothing here is safe
 * inside Temporal's workflow sandbox); tests import `kafka-temporal-orchestrator/testing`.
 */
export { defineBatchPipeline, defineConfig, defineIngest } from './project/define';
export type { ActivityFunction, BatchPipelineDefinition, BatchPipelineInput, IngestDefinition, IngestInput, KtoProjectConfig, PipelineDefinition } from './project/define';
export { commandWorkflowId, defineCommand } from './commands/registry';
export type { CommandBatch, CommandBatching, CommandDefinition, CommandIdContext, CommandStartOptions, WorkflowRef } from './commands/registry';
export { defineSource, MalformedResponseError, SourceRejectedError } from './ingest/define';
export type { IngestSource, SourceContext, SourceDefinition } from './ingest/define';
export { RANDOM_USER_SOURCE } from './ingest/random-user';
export type { RandomUserSourceOptions } from './ingest/random-user';
export { defineMap, defineReduce, RecordError } from './processors/define';
export type { BatchProcessor, Decode, InputRecord, MapDefinition, MapProcessor, OutputRecord, ProcessorContext, ProcessorFactory, ReduceDefinition, ReduceProcessor } from './processors/define';
export type { BatchPipelineOptions, BatchReport } from './shared/batch';
export { KtoError, UserError } from './runtime/errors';
export type { AggregationSpecInput } from './aggregate/spec';
