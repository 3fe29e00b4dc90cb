import { createAggregator, type AggregationSpecInput } from '../aggregate';
import type { KafkaIo } from '../kafka';
import { createStagingWriter, readStagingChunks, type StagingInput } from '../staging';

/**
 * The two CPU-heavy steps of a batch partition, as plain functions of files and offsets so they
 * can run on a step thread (see runner.ts) as well as on the worker's main thread.
 */

export interface StageRangeInput {
  topic: string;
  partition: number;
  /** First and last offset to read, inclusive, as decimal strings. */
  from: string;
  to: string;
  /** Staging file that receives the records. */
  file: string;
}

export interface AggregateFileInput {
  aggregation: AggregationSpecInput | undefined;
  /** Staged records to fold in. */
  file: string;
  /** Receives the aggregate rows, then the malformed records with their reason. */
  outputFile: string;
  errorsFile: string;
}

export interface AggregateFileResult {
  groups: number;
  accepted: number;
  malformed: number;
}

export type Progress = (details: Record<string, unknown>) => void;

export function createStepTasks(kafka: KafkaIo) {
  return {
    /** Streams the offsets [from, to] of a partition into a staging file. */
    async stage(input: StageRangeInput, progress: Progress): Promise<{ records: number }> {
      const writer = await createStagingWriter(input.file);
      try {
        await kafka.readRange({
          topic: input.topic,
          partition: input.partition,
          from: BigInt(input.from),
          to: BigInt(input.to),
          onRecords: (records) => writer.write(records),
          onProgress: (last, records) => progress({ lastOffset: last.toString(), records }),
        });
      } finally {
        await writer.close();
      }
      return { records: writer.count };
    },

    /** Folds a staged range into aggregate rows; malformed records go, with their reason, to the errors file. */
    async aggregate(input: AggregateFileInput, progress: Progress): Promise<AggregateFileResult> {
      const aggregator = createAggregator(input.aggregation);
      const errors = await createStagingWriter(input.errorsFile);
      try {
        let seen = 0;
        for await (const chunk of readStagingChunks(input.file)) {
          const rejected: StagingInput[] = [];
          for (let i = 0; i < chunk.length; i++) {
            const result = aggregator.add(chunk.text(i), chunk.offset(i));
            if (!result.ok) rejected.push({ offset: chunk.offset(i), value: chunk.value(i), note: result.reason });
          }
          await errors.write(rejected);
          seen += chunk.length;
          progress({ records: seen });
        }
      } finally {
        await errors.close();
      }
      const output = await createStagingWriter(input.outputFile);
      await output.write(aggregator.results().map((row) => ({ offset: 0n, value: Buffer.from(JSON.stringify(row)), note: null })));
      await output.close();
      return { groups: aggregator.groupCount, accepted: aggregator.accepted, malformed: aggregator.rejected };
    },
  };
}

export type StepTasks = ReturnType<typeof createStepTasks>;
export type StepName = keyof StepTasks;
