import { ApplicationFailure } from '@temporalio/common';
import { AggregationSpecError, createAggregator, type AggregationSpecInput, type Aggregator } from '../src/aggregate';
import type { AggregateInput, AggregateResult } from '../src/shared/batch';
import { rangeStagingPath } from '../src/staging';
import type { StepRunner } from '../src/steps/runner';
import { withHeartbeat } from './heartbeat';

export interface AggregateActivityDeps {
  stagingDir: string;
  /** Runs the aggregation off the main thread. */
  steps: StepRunner;
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

export function createAggregateActivities({ stagingDir, steps }: AggregateActivityDeps) {
  return {
    /**
     * Streams a staged range through the aggregator. Rows go to an output staging file,
     * malformed records (with the reason) to an errors staging file; both are written to
     * Kafka by the produce step, in the same transaction as the offsets. The input file stays
     * until produce has landed the range, so a retry of this step finds it again.
     */
    async aggregate(input: AggregateInput): Promise<AggregateResult> {
      const started = Date.now();
      // Checked here, where an invalid spec becomes a non-retryable failure.
      aggregatorFor(input.aggregation);
      const at = { ...input, from: input.range.from };
      const outputFile = rangeStagingPath(stagingDir, at, 'output');
      const errorsFile = rangeStagingPath(stagingDir, at, 'errors');
      const result = await withHeartbeat((progress) =>
        steps.run('aggregate', { aggregation: input.aggregation, file: input.file, outputFile, errorsFile }, progress),
      );
      return { ...result, outputFile, errorsFile, durationMs: Date.now() - started };
    },
  };
}
