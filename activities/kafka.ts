import { Context } from '@temporalio/activity';
import { KtoError } from '../src/runtime/errors';
import { TopicNotFoundError, type KafkaIo, type OutboundRecord } from '../src/kafka';
import {
  OUTPUT_HEADERS,
  transactionalId,
  type BatchPipeline,
  type ConsumeInput,
  type ConsumeResult,
  type PartitionInput,
  type PinnedRange,
  type ProduceInput,
  type ProduceResult,
} from '../src/shared/batch';
import { decodeOutputMeta, rangeStagingPath, readStaging, removeStaging } from '../src/steps/staging';
import type { StepRunner } from '../src/steps/runner';
import { NO_PIPELINE_METRICS, type PipelineMetrics } from '../src/worker/telemetry';
import { withHeartbeat } from './heartbeat';

export interface KafkaActivityDeps {
  kafka: KafkaIo;
  /** Folder for worker-local staging files. */
  stagingDir: string;
  /** Task queue only this worker polls: the steps after consume run there. */
  workerQueue: string;
  /** Compacted topic holding each partition's pinned and committed ranges. */
  stateTopic: string;
  /** Runs the read into staging off the main thread. */
  steps: StepRunner;
  /** Records consumed, produced and malformed, and consumer lag. @default no metrics */
  metrics?: PipelineMetrics;
}

export function createKafkaActivities({ kafka, stagingDir, workerQueue, stateTopic, steps, metrics = NO_PIPELINE_METRICS }: KafkaActivityDeps) {
  const { admin } = kafka;

  return {
    /**
     * Lists the input partitions, checks the output topic can take each one's output, and
     * names the partitions with something to do, so an empty run starts no child at all.
     */
    async listPartitions(pipeline: BatchPipeline): Promise<{ partitions: number[]; pending: number[] }> {
      const partitions = await admin.partitions(pipeline.topic);
      const needed = Math.max(...partitions) + 1;
      await requirePartitions(kafka, pipeline, needed, 'output');
      await admin.ensureTopics([
        { topic: pipeline.errorTopic, partitions: needed },
        { topic: stateTopic, partitions: 1, config: { 'cleanup.policy': 'compact' } },
      ]);
      // An existing error topic must have a partition for each input partition too: kafkajs
      // drops records for a partition missing from its metadata without an error.
      await requirePartitions(kafka, pipeline, needed, 'error');
      const [committed, watermarks] = await Promise.all([
        admin.committedOffsets(pipeline.groupId, pipeline.topic),
        admin.watermarks(pipeline.topic),
      ]);
      // A partition without a committed offset always gets a child: it must record where it starts.
      const pending = watermarks
        .filter((w) => {
          const offset = committed.get(w.partition) ?? null;
          return offset === null || offset < w.high;
        })
        .map((w) => w.partition);
      return { partitions, pending };
    },

    /**
     * Pins the range [group offset, high watermark - 1] (or re-reads a pinned one) and streams
     * its records into a staging file on this worker.
     */
    async consume(input: ConsumeInput): Promise<ConsumeResult> {
      const started = Date.now();
      const range = input.pinned ?? (await pinRange(kafka, input));
      const from = BigInt(range.from);
      const to = BigInt(range.to);
      metrics.lag(input.pipeline, input.topic, input.partition, to + 1n - from);
      if (from > to) {
        // A first run that starts at the end still records where it started, or every
        // later run would start at the end again.
        if (range.firstRun) await initializeGroupOffset(kafka, input, from);
        return { ...range, records: 0, file: null, workerQueue, durationMs: Date.now() - started };
      }

      const file = rangeStagingPath(stagingDir, { ...input, from: range.from }, 'records');
      const { records } = await withHeartbeat((progress) =>
        steps.run('stage', { topic: input.topic, partition: input.partition, from: range.from, to: range.to, file }, progress),
      );
      metrics.consumed(input.pipeline, input.topic, records);
      return { ...range, records, file, workerQueue, durationMs: Date.now() - started };
    },

    /**
     * The seed's fan-in point: records the pinned range durably (a state record beside the
     * workflow history) without moving the group offset, which moves only with the output.
     */
    async commit(input: PartitionInput & { range: PinnedRange }): Promise<{ durationMs: number }> {
      const started = Date.now();
      const info = Context.current().info;
      await kafka.produce([
        {
          topic: stateTopic,
          partition: 0,
          key: `${input.pipeline}/${input.partition}`,
          value: JSON.stringify({ status: 'pinned', ...input.range, workflowId: info.workflowExecution?.workflowId, at: new Date().toISOString() }),
        },
      ]);
      return { durationMs: Date.now() - started };
    },

    /** Writes the output and dead letters of a pinned range and moves the group offset, in one transaction. */
    async produce(input: ProduceInput): Promise<ProduceResult> {
      const started = Date.now();
      const { range } = input;
      const headers = {
        [OUTPUT_HEADERS.pipeline]: input.pipeline,
        [OUTPUT_HEADERS.sourceTopic]: input.topic,
        [OUTPUT_HEADERS.sourcePartition]: String(input.partition),
        [OUTPUT_HEADERS.offsetFrom]: range.from,
        [OUTPUT_HEADERS.offsetTo]: range.to,
      };
      let outputRecords = 0;
      let errorRecords = 0;
      async function* records(): AsyncGenerator<OutboundRecord> {
        for await (const rows of readStaging(input.outputFile)) {
          for (const row of rows) {
            const meta = decodeOutputMeta(row.note);
            outputRecords++;
            yield {
              topic: input.outputTopic,
              partition: input.partition,
              key: meta.key,
              value: row.value,
              headers: meta.headers === undefined ? headers : { ...meta.headers, ...headers },
            };
          }
        }
        for await (const bad of readStaging(input.errorsFile)) {
          for (const record of bad) {
            errorRecords++;
            yield {
              topic: input.errorTopic,
              partition: input.partition,
              key: null,
              value: record.value,
              headers: { ...headers, [OUTPUT_HEADERS.reason]: record.note ?? 'unknown', [OUTPUT_HEADERS.sourceOffset]: record.offset.toString() },
            };
          }
        }
        yield {
          topic: stateTopic,
          partition: 0,
          key: `${input.pipeline}/${input.partition}`,
          value: JSON.stringify({ status: 'committed', ...range, next: (BigInt(range.to) + 1n).toString(), at: new Date().toISOString() }),
        };
      }
      const result = await withHeartbeat((progress) =>
        kafka.commitRange({
          transactionalId: transactionalId(input.pipeline, input.partition),
          groupId: input.groupId,
          topic: input.topic,
          partition: input.partition,
          from: BigInt(range.from),
          to: BigInt(range.to),
          firstRun: range.firstRun,
          records,
          onProgress: (produced) => progress({ produced }),
        }),
      );
      await removeStaging(input.outputFile, input.errorsFile, rangeStagingPath(stagingDir, { ...input, from: range.from }, 'records'));
      if (result.status === 'already-committed') return { status: result.status, outputRecords: 0, errorRecords: 0, durationMs: Date.now() - started };
      metrics.produced(input.pipeline, input.outputTopic, outputRecords, errorRecords);
      return { status: result.status, outputRecords, errorRecords, durationMs: Date.now() - started };
    },
  };
}

/** Each input partition's output and dead letters go to the same partition number of their topics: both need as many. */
async function requirePartitions(kafka: KafkaIo, pipeline: BatchPipeline, needed: number, role: 'output' | 'error'): Promise<void> {
  const topic = role === 'output' ? pipeline.outputTopic : pipeline.errorTopic;
  const have = (await kafka.admin.partitions(topic)).length;
  if (have >= needed) return;
  const fix =
    role === 'output'
      ? `create the output topic co-partitioned (\`kto topics create ${topic} --like ${pipeline.topic}\`) or add partitions to it.`
      : `add partitions to it (kafka-topics.sh --alter --topic ${topic} --partitions ${needed}), or give the pipeline an errorTopic of its own.`;
  throw new KtoError(
    `${role} topic "${topic}" has ${have} partitions but input topic "${pipeline.topic}" has ${needed}; each input partition's ${role} records go to the same partition number. Fix: ${fix}`,
    { type: role === 'output' ? 'OutputTopicTooSmall' : 'ErrorTopicTooSmall' },
  );
}

async function pinRange(kafka: KafkaIo, input: ConsumeInput): Promise<PinnedRange> {
  const [committed, watermarks] = await Promise.all([
    kafka.admin.committedOffsets(input.groupId, input.topic),
    kafka.admin.watermarks(input.topic),
  ]);
  const mark = watermarks.find((w) => w.partition === input.partition);
  if (!mark) throw new TopicNotFoundError(`${input.topic}[${input.partition}]`);
  const offset = committed.get(input.partition) ?? null;
  const from = offset ?? (input.startFrom === 'earliest' ? mark.low : mark.high);
  if (from < mark.low) {
    throw new KtoError(
      `partition ${input.partition} of "${input.topic}": records ${from}..${mark.low - 1n} were deleted by retention before the pipeline read them. ` +
        `Fix: accept the loss by moving the group "${input.groupId}" to ${mark.low} (kafka-consumer-groups --reset-offsets --to-earliest), then re-run.`,
      { type: 'OffsetsOutOfRange' },
    );
  }
  return { from: from.toString(), to: (mark.high - 1n).toString(), firstRun: offset === null };
}

async function initializeGroupOffset(kafka: KafkaIo, input: PartitionInput, next: bigint): Promise<void> {
  await kafka.commitRange({
    transactionalId: transactionalId(input.pipeline, input.partition),
    groupId: input.groupId,
    topic: input.topic,
    partition: input.partition,
    from: next,
    to: next - 1n,
    firstRun: true,
    records: async function* () {},
  });
}
