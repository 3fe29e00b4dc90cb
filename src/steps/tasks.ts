import type { AggregationSpecInput } from '../aggregate';
import type { KafkaIo } from '../kafka';
import { aggregateProcessor } from '../processors/aggregate';
import type { ProcessorContext } from '../processors/define';
import { createAvroDecoder } from '../processors/avro';
import type { SchemaRegistryConnection } from '../runtime/schema-registry';
import { createProcessorRun } from '../processors/engine';
import { loadProcessor } from '../processors/load';
import type { RecordMark } from '../shared/batch';
import { createStagingWriter, encodeOutputMeta, readStagingChunks, type StagingInput } from './staging';

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
  /** A record the partition must still hold at or before `from` (see `ReadRangeOptions.expect`). */
  expect?: RecordMark;
}

export interface AggregateFileInput {
  aggregation: AggregationSpecInput | undefined;
  /** Staged records to fold in. */
  file: string;
  /** The project's processor module (absolute path); without it, the built-in aggregation. */
  processorModule?: string;
  /** The pipeline's `processorOptions`: a factory's argument and `ctx.options`. */
  processorOptions?: unknown;
  /** The range the file holds, which the processor sees (the built-in names it in each row's `source`). */
  context: Omit<ProcessorContext, 'options'>;
  /** Receives the output records (key and headers in each frame's note). */
  outputFile: string;
  /** Receives the rejected records with their reason. */
  errorsFile: string;
  /** Where a processor with `decode: 'avro'` finds the writers' schemas, and its credentials. */
  schemaRegistry?: SchemaRegistryConnection;
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
    async stage(input: StageRangeInput, progress: Progress): Promise<{ records: number; last?: RecordMark }> {
      const writer = await createStagingWriter(input.file);
      let last: RecordMark | undefined;
      try {
        await kafka.readRange({
          topic: input.topic,
          partition: input.partition,
          from: BigInt(input.from),
          to: BigInt(input.to),
          ...(input.expect && { expect: { offset: BigInt(input.expect.offset), timestamp: input.expect.timestamp } }),
          onRecords: (block) => {
            const i = block.length - 1;
            last = { offset: String(block.offset(i)), timestamp: String(block.timestamp(i)) };
            return writer.writeBlock(block);
          },
          onProgress: (lastOffset, records) => progress({ lastOffset: lastOffset.toString(), records }),
        });
      } finally {
        await writer.close();
      }
      return { records: writer.count, ...(last && { last }) };
    },

    /**
     * Runs a staged range through the pipeline's processor: output records go to the output
     * file as they are made, rejected records with their reason to the errors file.
     */
    async aggregate(input: AggregateFileInput, progress: Progress): Promise<AggregateFileResult> {
      const processor = input.processorModule === undefined ? aggregateProcessor(input.aggregation) : loadProcessor(input.processorModule, input.processorOptions);
      const ctx: ProcessorContext = { ...input.context, options: input.processorModule === undefined ? input.aggregation : input.processorOptions };
      let outputs: StagingInput[] = [];
      const avro = processor.decode === 'avro' ? createAvroDecoder(registryFor(input)) : undefined;
      const run = createProcessorRun(processor, ctx, (o) => outputs.push({ offset: o.offset, value: o.value, note: encodeOutputMeta(o) }), avro?.decode);
      const output = await createStagingWriter(input.outputFile);
      const errors = await createStagingWriter(input.errorsFile);
      try {
        let seen = 0;
        for await (const chunk of readStagingChunks(input.file)) {
          const rejected: StagingInput[] = [];
          await avro?.prepare(chunk, chunk.length);
          for (let i = 0; i < chunk.length; i++) {
            const reason = run.add(chunk, i);
            if (reason !== null) rejected.push({ offset: chunk.offset(i), value: chunk.value(i), note: reason });
          }
          await errors.write(rejected);
          await output.write(outputs);
          outputs = [];
          seen += chunk.length;
          progress({ records: seen });
        }
        run.finish();
        await output.write(outputs);
      } finally {
        await errors.close();
        await output.close();
      }
      return { groups: run.groups, accepted: run.accepted, malformed: run.rejected };
    },
  };
}

function registryFor(input: AggregateFileInput): SchemaRegistryConnection {
  if (input.schemaRegistry) return input.schemaRegistry;
  throw new Error(`the processor of pipeline "${input.context.pipeline}" decodes Avro, and this worker has no schema registry: set KTO_SCHEMA_REGISTRY_URL`);
}

export type StepTasks = ReturnType<typeof createStepTasks>;
export type StepName = keyof StepTasks;
