import { ApplicationFailure } from '@temporalio/common';
import { AggregationSpecError, createAggregator, type AggregationSpecInput, type Aggregator } from '../src/aggregate';
import type { AggregateInput, AggregateResult } from '../src/shared/batch';
import { rangeStagingPath } from '../src/staging';
import type { StepRunner } from '../src/steps/runner';
import { PROCESSOR_MODULE_ERROR } from '../src/processors/load';
import { withHeartbeat } from './heartbeat';

export interface AggregateActivityDeps {
  stagingDir: string;
  /** Runs the aggregation off the main thread. */
  steps: StepRunner;
  /** The project's processor modules by pipeline name (absolute paths on this worker). @default none */
  processors?: Record<string, string>;
  /** For processors that decode Avro (KTO_SCHEMA_REGISTRY_URL). */
  schemaRegistryUrl?: string;
}

/** An aggregator for a run's spec; an invalid spec fails the run at once instead of being retried. */
export function aggregatorFor(spec: AggregationSpecInput | undefined): Aggregator {
  try {
    return createAggregator(spec);
  } catch (err) {
    if (err instanceof AggregationSpecError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidAggregationSpec');
    throw err;
  }
}

export function createAggregateActivities({ stagingDir, steps, processors = {}, schemaRegistryUrl }: AggregateActivityDeps) {
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
        throw ApplicationFailure.nonRetryable(
          `this worker has no processor for pipeline "${input.processor}". Fix: start the worker in the project folder holding the kto.config.ts that declares it (or set KTO_CONFIG)`,
          'ProcessorNotFound',
        );
      }
      // Checked here, where an invalid spec becomes a non-retryable failure.
      if (processorModule === undefined) aggregatorFor(input.aggregation);
      const at = { ...input, from: input.range.from };
      const outputFile = rangeStagingPath(stagingDir, at, 'output');
      const errorsFile = rangeStagingPath(stagingDir, at, 'errors');
      const context = { pipeline: input.pipeline, topic: input.topic, partition: input.partition, from: input.range.from, to: input.range.to };
      try {
        const result = await withHeartbeat((progress) =>
          steps.run('aggregate', { processorModule, aggregation: input.aggregation, context, file: input.file, outputFile, errorsFile, schemaRegistryUrl }, progress),
        );
        return { ...result, outputFile, errorsFile, durationMs: Date.now() - started };
      } catch (err) {
        // A module that does not load or export a processor fails the same way on every attempt.
        if (err instanceof Error && err.name === PROCESSOR_MODULE_ERROR) throw ApplicationFailure.nonRetryable(err.message, 'InvalidProcessor');
        throw err;
      }
    },
  };
}
