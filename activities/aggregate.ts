import { ApplicationFailure } from '@temporalio/common';
import { AggregationSpecError, createAggregator, type AggregationSpecInput, type Aggregator } from '../src/aggregate';
import type { AggregateInput, AggregateResult } from '../src/shared/batch';
import { createStagingWriter, rangeStagingPath, readStaging, type StagedRecord } from '../src/staging';
import { withHeartbeat } from './heartbeat';

export interface AggregateActivityDeps {
  stagingDir: string;
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

export function createAggregateActivities({ stagingDir }: AggregateActivityDeps) {
  return {
    /**
     * Streams a staged range through the aggregator. Rows go to an output staging file,
     * malformed records (with the reason) to an errors staging file; both are written to
     * Kafka by the produce step, in the same transaction as the offsets. The input file stays
     * until produce has landed the range, so a retry of this step finds it again.
     */
    async aggregate(input: AggregateInput): Promise<AggregateResult> {
      const started = Date.now();
      const aggregator = aggregatorFor(input.aggregation);
      const at = { ...input, from: input.range.from };
      const outputFile = rangeStagingPath(stagingDir, at, 'output');
      const errorsFile = rangeStagingPath(stagingDir, at, 'errors');
      const errors = await createStagingWriter(errorsFile);
      try {
        await withHeartbeat(async (progress) => {
          let seen = 0;
          for await (const records of readStaging(input.file)) {
            const rejected: StagedRecord[] = [];
            for (const record of records) {
              const result = aggregator.add(record.value, record.offset);
              if (!result.ok) rejected.push({ offset: record.offset, value: record.value, note: result.reason });
            }
            await errors.write(rejected);
            seen += records.length;
            progress({ records: seen });
          }
        });
      } finally {
        await errors.close();
      }
      const output = await createStagingWriter(outputFile);
      await output.write(aggregator.results().map((row) => ({ offset: 0n, value: Buffer.from(JSON.stringify(row)), note: null })));
      await output.close();
      return {
        groups: aggregator.groupCount,
        accepted: aggregator.accepted,
        malformed: aggregator.rejected,
        outputFile,
        errorsFile,
        durationMs: Date.now() - started,
      };
    },
  };
}
