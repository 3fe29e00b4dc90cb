import { createAggregator } from '../src/aggregate';
import { KtoError } from '../src/runtime/errors';
import type { SchemaRegistryConnection } from '../src/runtime/schema-registry';
import type { AggregateInput, AggregateResult } from '../src/shared/batch';
import { rangeStagingPath } from '../src/steps/staging';
import type { StepRunner } from '../src/steps/runner';
import { withHeartbeat } from './heartbeat';

export interface AggregateActivityDeps {
  stagingDir: string;
  /** Runs the aggregation off the main thread. */
  steps: StepRunner;
  /** The project's processor modules by pipeline name (absolute paths on this worker). @default none */
  processors?: Record<string, string>;
  /** For processors that decode Avro (KTO_SCHEMA_REGISTRY_URL and its credentials); reaches the step thread, never a Temporal payload. */
  schemaRegistry?: SchemaRegistryConnection;
}


export function createAggregateActivities({ stagingDir, steps, processors = {}, schemaRegistry }: AggregateActivityDeps) {
  return {
    /**
     * Streams a staged range through the pipeline's processor (the project's own module, else
     * the built-in aggregation). Output records go to an output staging file, rejected records
     * (with the reason) to an errors staging file; both are written to Kafka by the produce
     * step, in the same transaction as the offsets. The input file stays until produce has
     * landed the range, so a retry of this step finds it again and makes the same output.
     */
    async aggregate(input: AggregateInput): Promise<AggregateResult> {
      const started = Date.now();
      const processorModule = input.processor === undefined ? undefined : processors[input.processor];
      if (input.processor !== undefined && processorModule === undefined) {
        throw new KtoError(
          `this worker has no processor for pipeline "${input.processor}". Fix: start the worker in the project folder holding the kto.config.ts that declares it (or set KTO_CONFIG)`,
          { type: 'ProcessorNotFound' },
        );
      }
      // Checked before the step: an invalid spec (an AggregationSpecError) fails the run at once.
      if (processorModule === undefined) createAggregator(input.aggregation);
      const at = { ...input, from: input.range.from };
      const outputFile = rangeStagingPath(stagingDir, at, 'output');
      const errorsFile = rangeStagingPath(stagingDir, at, 'errors');
      const context = { pipeline: input.pipeline, topic: input.topic, partition: input.partition, from: input.range.from, to: input.range.to };
      const result = await withHeartbeat((progress) =>
        steps.run('aggregate', { processorModule, processorOptions: input.processorOptions, aggregation: input.aggregation, context, file: input.file, outputFile, errorsFile, schemaRegistry }, progress),
      );
      // Every staged record is accepted or rejected: a shortfall means the staging file lost records.
      if (input.records !== undefined && result.accepted + result.malformed !== input.records) {
        throw new KtoError(
          `partition ${input.partition} of "${input.topic}": the processor saw ${result.accepted + result.malformed} records of the ${input.records} staged for ${input.range.from}..${input.range.to}; the staging file on this worker is incomplete. ` +
            'Fix: check the worker\'s disk (KTO_STAGING_DIR), then re-run: the range is read again.',
          { type: 'StagedRangeIncomplete' },
        );
      }
      return { ...result, outputFile, errorsFile, durationMs: Date.now() - started };
    },
  };
}
