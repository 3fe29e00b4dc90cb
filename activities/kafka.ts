import { Context } from '@temporalio/activity';
import { msToNumber } from '@temporalio/common/lib/time';
import { isKtoError, KtoError } from '../src/runtime/errors';
import type { KafkaIo, OutboundRecord } from '../src/kafka';
import {
  batchStateKey,
  type BackfillRange,
  OUTPUT_HEADERS,
  transactionalId,
  type BatchPipeline,
  type ConsumeInput,
  type ConsumeResult,
  type PartitionInput,
  type PartitionListing,
  type PinnedRange,
  type ProduceInput,
  type ProduceResult,
  type RecordMark,
  type ResumePoint,
} from '../src/shared/batch';
import { batchStateRecord, batchStateTopicSpec, offsetsAllowedBy, readBatchStates, resumePoint } from '../src/steps/batch-state';
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
  /** Records consumed, produced and malformed, and the pipelines whose lag to report. @default no metrics */
  metrics?: PipelineMetrics;
}

export function createKafkaActivities({ kafka, stagingDir, workerQueue, stateTopic, steps, metrics = NO_PIPELINE_METRICS }: KafkaActivityDeps) {

  return {
    /**
     * Lists the input partitions, checks the output topic can take each one's output, and names
     * the partitions with something to do, so a child starts only where there is: a partition
     * with records past its group offset (or, without one, past its state record's resume point
     * or, on a first run from `earliest`, any record). A first run from `latest` records where it
     * starts, so it always gets a child.
     */
    async listPartitions(pipeline: BatchPipeline): Promise<PartitionListing> {
      const partitions = selectedPartitions(pipeline.topic, await prepareTopics(kafka, pipeline, stateTopic), pipeline.partitions);
      const { committed, watermarks, states } = await checkedProgress(kafka, pipeline, stateTopic);
      const pending: number[] = [];
      const resume: Record<number, ResumePoint | null> = {};
      const backlog: Record<number, number> = {};
      // What the partition's child will read: its pin stops at maxRecordsPerRun offsets.
      const offsetsFrom = (from: bigint, high: bigint) => Math.min(Number(from < high ? high - from : 0n), pipeline.maxRecordsPerRun ?? Infinity);
      for (const w of watermarks) {
        if (!partitions.includes(w.partition)) continue;
        const offset = committed.get(w.partition) ?? null;
        if (offset !== null) {
          if (offset < w.high) {
            pending.push(w.partition);
            backlog[w.partition] = offsetsFrom(offset, w.high);
          }
          continue;
        }
        const point = resumePoint(states, { ...pipeline, partition: w.partition });
        // A resume point anywhere but the end needs the child: to read on, or to fail naming the fix.
        const work = point ? BigInt(point.offset) !== w.high : pipeline.startFrom === 'latest' || w.low < w.high;
        if (!work) continue;
        pending.push(w.partition);
        resume[w.partition] = point;
        backlog[w.partition] = offsetsFrom(point ? BigInt(point.offset) : pipeline.startFrom === 'latest' ? w.high : w.low, w.high);
      }
      return { partitions, pending, resume, backlog };
    },

    /**
     * A backfill's range per partition: a time resolves with offsets-for-times (`from` to the
     * first record at or after it, `to` to the last record before it), an offset is taken as is
     * (`to` exclusive); both are clamped to what the partition holds.
     */
    async backfillRanges(input: { pipeline: BatchPipeline; from: string; to: string }): Promise<BackfillRange[]> {
      const { pipeline } = input;
      const partitions = selectedPartitions(pipeline.topic, await prepareTopics(kafka, pipeline, stateTopic), pipeline.partitions);
      const watermarks = await kafka.admin.watermarks(pipeline.topic);
      const [starts, ends] = await Promise.all([boundOffsets(kafka, pipeline.topic, input.from), boundOffsets(kafka, pipeline.topic, input.to)]);
      return watermarks
        .filter((w) => partitions.includes(w.partition))
        .map((w) => {
          const from = maxBigInt(w.low, starts(w.partition));
          const to = minBigInt(w.high, ends(w.partition)) - 1n;
          return { partition: w.partition, from: from.toString(), to: to.toString() };
        });
    },

    /**
     * Pins the range [group offset, high watermark - 1] (or re-reads a pinned one) and streams
     * its records into a staging file on this worker.
     */
    async consume(input: ConsumeInput): Promise<ConsumeResult> {
      const started = Date.now();
      const { range, expect } = input.pinned
        ? { range: input.pinned, expect: undefined }
        : input.fixedRange
          ? { range: await backfillRange(kafka, input, input.fixedRange), expect: undefined }
          : await pinRange(kafka, input, stateTopic);
      const from = BigInt(range.from);
      const to = BigInt(range.to);
      metrics.consuming(input.pipeline, input.groupId, input.topic);
      if (from > to) {
        // A first run that starts at the end still records where it started, or every
        // later run would start at the end again.
        if (range.firstRun) await initializeGroupOffset(kafka, input, from, stateTopic);
        return { ...range, records: 0, file: null, workerQueue, durationMs: Date.now() - started };
      }

      // A new pin was just checked against the low watermark by pinRange; a re-read may come much later.
      if (input.pinned) await requireUndeleted(kafka, input, from);
      const file = rangeStagingPath(stagingDir, { ...input, from: range.from }, 'records');
      const { records, last } = await withHeartbeat((progress) =>
        steps.run('stage', { topic: input.topic, partition: input.partition, from: range.from, to: range.to, file, ...(expect && { expect }) }, progress),
      ).catch(async (err: unknown) => {
        if (isKtoError(err) && err.type === 'PartitionReplaced') {
          throw new KtoError(`${err.message} Fix: ${resetFix(input, 'earliest')} to process the partition as it is now, from its first record.`, { type: err.type });
        }
        if (isKtoError(err) && err.type === 'OffsetsOutOfRange') {
          await requireUndeleted(kafka, input, from);
          throw new KtoError(`${err.message} Fix: check the topic's retention.ms and that the partition's leader did not lose records, then re-run.`, { type: err.type });
        }
        throw err;
      });
      // Retention may have deleted the start of the range while it was read: a re-read of the
      // pinned range could no longer give the same output.
      await requireUndeleted(kafka, input, from);
      if (input.pinnedRecords !== undefined && records !== input.pinnedRecords) {
        throw new KtoError(
          `re-reading the pinned range ${range.from}..${range.to} of "${input.topic}" partition ${input.partition} gave ${records} records, the first read gave ${input.pinnedRecords}: ` +
            'records of the range were deleted or compacted away in between, so its output can no longer be computed. ' +
            `Fix: raise the topic's retention.ms (or stop compacting it), then ${resetFix(input, 'earliest')} to accept the loss.`,
          { type: 'PinnedRangeChanged' },
        );
      }
      metrics.consumed(input.pipeline, input.topic, records);
      return { ...range, records, ...(last && { last }), file, workerQueue, durationMs: Date.now() - started };
    },

    /**
     * The seed's fan-in point: records the pinned range durably (a state record beside the
     * workflow history) without moving the group offset, which moves only with the output
     * (invariants 1 and 3, docs/design.md).
     */
    async commit(input: PartitionInput & { range: PinnedRange }): Promise<{ durationMs: number }> {
      const started = Date.now();
      const info = Context.current().info;
      await kafka.produce([
        batchStateRecord(
          input,
          { status: 'pinned', pipeline: input.pipeline, from: input.range.from, to: input.range.to, at: new Date().toISOString(), workflowId: info.workflowExecution?.workflowId },
          stateTopic,
        ),
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
        ...(input.backfillId !== undefined && { [OUTPUT_HEADERS.backfillId]: input.backfillId }),
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
        yield batchStateRecord(
          input,
          { status: 'committed', pipeline: input.pipeline, from: range.from, to: range.to, next: (BigInt(range.to) + 1n).toString(), at: new Date().toISOString(), ...(input.last && { last: input.last }) },
          stateTopic,
        );
      }
      const result = await withHeartbeat((progress) =>
        kafka.commitRange({
          transactionalId: transactionalId(input),
          groupId: input.groupId,
          topic: input.topic,
          partition: input.partition,
          from: BigInt(range.from),
          to: BigInt(range.to),
          firstRun: range.firstRun,
          records,
          ...(input.last && { offsetMetadata: JSON.stringify({ last: input.last }) }),
          ...(input.transactionTimeout !== undefined && { transactionTimeoutMs: msToNumber(input.transactionTimeout) }),
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

/**
 * Checks the output topic can take each input partition's output, creates the error and state
 * topics when missing, and returns the input partitions.
 */
async function prepareTopics(kafka: KafkaIo, pipeline: BatchPipeline, stateTopic: string): Promise<number[]> {
  const partitions = await kafka.admin.partitions(pipeline.topic);
  const needed = Math.max(...partitions) + 1;
  await requirePartitions(kafka, pipeline, needed, 'output');
  await kafka.admin.ensureTopics([{ topic: pipeline.errorTopic, partitions: needed }, batchStateTopicSpec(stateTopic)]);
  // An existing error topic must have a partition for each input partition too: kafkajs
  // drops records for a partition missing from its metadata without an error.
  await requirePartitions(kafka, pipeline, needed, 'error');
  return partitions;
}

/** The partitions a run is restricted to, checked against the topic's. */
function selectedPartitions(topic: string, all: number[], only: number[] | undefined): number[] {
  if (only === undefined) return all;
  const unknown = only.filter((p) => !all.includes(p));
  if (unknown.length > 0) {
    throw new KtoError(`topic "${topic}" has no partition ${unknown.join(', ')} (it has ${all.length}). Fix: name partitions 0..${all.length - 1}.`, { type: 'UnknownPartition' });
  }
  return all.filter((p) => only.includes(p));
}

/** Per partition, the offset a backfill bound stands for: a decimal offset as is, an ISO time through offsets-for-times. */
async function boundOffsets(kafka: KafkaIo, topic: string, bound: string): Promise<(partition: number) => bigint> {
  if (/^\d+$/.test(bound)) return () => BigInt(bound);
  const time = Date.parse(bound);
  if (Number.isNaN(time)) throw new KtoError(`"${bound}" is neither an ISO time nor an offset. Fix: e.g. 2026-12-01T00:00:00Z or 1200.`, { type: 'InvalidBackfillBound' });
  const offsets = await kafka.admin.offsetsForTime(topic, time);
  return (partition) => offsets.get(partition) ?? 0n;
}

/**
 * A backfill's range of a partition, starting where the backfill's own group stands when an
 * earlier run of the same backfill id landed part or all of it: a repeat lands nothing twice.
 */
async function backfillRange(kafka: KafkaIo, input: ConsumeInput, fixed: { from: string; to: string }): Promise<PinnedRange> {
  const { offset } = await kafka.admin.committedPosition(input.groupId, input.topic, input.partition);
  if (offset === null) return { from: fixed.from, to: fixed.to, firstRun: true };
  if (offset < BigInt(fixed.from) || offset > BigInt(fixed.to) + 1n) {
    throw new KtoError(
      `backfill "${input.backfillId}" of partition ${input.partition} already landed up to offset ${offset}, outside its range ${fixed.from}..${fixed.to}: the same id was used for another range. ` +
        'Fix: give this backfill an id of its own (--id).',
      { type: 'BackfillIdReused' },
    );
  }
  return { from: offset.toString(), to: fixed.to, firstRun: false };
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

/**
 * Where the partition's next range starts: the group offset; without one (a first run, or
 * offsets expired), kto's state record; without that too, `startFrom`.
 */
async function pinRange(kafka: KafkaIo, input: ConsumeInput, stateTopic: string): Promise<{ range: PinnedRange; expect?: RecordMark }> {
  const [position, mark] = await Promise.all([
    kafka.admin.committedPosition(input.groupId, input.topic, input.partition),
    kafka.admin.watermark(input.topic, input.partition),
  ]);
  const offset = position.offset;
  let from = offset;
  let expect = lastRecordOf(position.metadata);
  if (from === null) {
    // The run's listing read the state records already; a child started otherwise reads them.
    const point = input.resume !== undefined ? input.resume : resumePoint(await readBatchStates(kafka, stateTopic), input);
    from = point ? BigInt(point.offset) : input.startFrom === 'earliest' ? mark.low : mark.high;
    expect = point?.last;
  }
  if (from > mark.high) {
    throw new KtoError(
      `partition ${input.partition} of "${input.topic}": the pipeline goes on at offset ${from}, past the partition's end (${mark.high}); the topic was deleted and recreated or truncated. ` +
        `Fix: ${resetFix(input, 'earliest')} to process what it holds now.`,
      { type: 'OffsetBeyondEnd' },
    );
  }
  if (from < mark.low) {
    throw new KtoError(
      `partition ${input.partition} of "${input.topic}": records ${from}..${mark.low - 1n} were deleted by retention before the pipeline read them. ` +
        `Fix: raise the topic's retention.ms, and accept the loss with ${resetFix(input, 'earliest')}, then re-run.`,
      { type: 'OffsetsOutOfRange' },
    );
  }
  const end = input.maxRecordsPerRun === undefined ? mark.high - 1n : minBigInt(mark.high - 1n, from + BigInt(input.maxRecordsPerRun) - 1n);
  return {
    range: { from: from.toString(), to: end.toString(), firstRun: offset === null },
    ...(expect && BigInt(expect.offset) >= mark.low && { expect }),
  };
}

const minBigInt = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const maxBigInt = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/** The last record of the previous range, from the metadata the produce step committed the offset with. */
function lastRecordOf(metadata: string | null): RecordMark | undefined {
  if (metadata === null) return undefined;
  try {
    const { last } = JSON.parse(metadata) as { last?: RecordMark };
    return typeof last?.offset === 'string' && typeof last.timestamp === 'string' ? last : undefined;
  } catch {
    return undefined;
  }
}

/** Fails when retention deleted records of the range from `from` on: reading on would skip them silently. */
async function requireUndeleted(kafka: KafkaIo, input: PartitionInput, from: bigint): Promise<void> {
  const mark = await kafka.admin.watermark(input.topic, input.partition);
  if (mark.low > from) {
    throw new KtoError(
      `partition ${input.partition} of "${input.topic}": records ${from}..${mark.low - 1n} of the pinned range were deleted (retention or deleteRecords) before they were processed. ` +
        `Fix: raise the topic's retention.ms, and accept the loss with ${resetFix(input, 'earliest')}, then re-run.`,
      { type: 'OffsetsOutOfRange' },
    );
  }
}

const resetFix = (input: PartitionInput, to: string): string => `\`kto batch reset ${input.pipeline} --to ${to} --partition ${input.partition}\``;

/**
 * Checks the group offsets against the partitions and kto's state records before a run pins
 * anything, and returns them: an offset past a partition's end, or one kto did not put there,
 * fails the run with the reason and the fix instead of reading from the wrong place.
 */
async function checkedProgress(kafka: KafkaIo, pipeline: BatchPipeline, stateTopic: string) {
  // State first, offsets second: a range committed in between is then still allowed (pinned → to + 1).
  for (let attempt = 1; ; attempt++) {
    const states = await readBatchStates(kafka, stateTopic);
    const [committed, watermarks] = await Promise.all([kafka.admin.committedOffsets(pipeline.groupId, pipeline.topic), kafka.admin.watermarks(pipeline.topic)]);
    const problems: string[] = [];
    for (const w of watermarks) {
      const offset = committed.get(w.partition) ?? null;
      if (offset === null) continue;
      if (offset > w.high) {
        problems.push(
          `partition ${w.partition}: the group's offset ${offset} is past the partition's end (${w.high}); the topic was deleted and recreated or truncated. ` +
            `Fix: \`kto batch reset ${pipeline.pipeline} --to earliest --partition ${w.partition}\` to process what it holds now`,
        );
        continue;
      }
      const state = states.get(batchStateKey({ ...pipeline, partition: w.partition }));
      if (state && !offsetsAllowedBy(state).includes(offset)) {
        problems.push(
          `partition ${w.partition}: the group's offset is ${offset} but kto last left it at ${offsetsAllowedBy(state).join(' or ')}; something outside kto moved it (kafka-consumer-groups --reset-offsets, or another consumer of group "${pipeline.groupId}"). ` +
            `Fix: \`kto batch reset ${pipeline.pipeline} --to <offset> --partition ${w.partition}\` (moves the group and kto's record together), with ${offset} to keep the moved offset`,
        );
      }
    }
    if (problems.length === 0) return { committed, watermarks, states };
    if (attempt >= 2) {
      throw new KtoError(`pipeline "${pipeline.pipeline}" cannot run over "${pipeline.topic}" with group "${pipeline.groupId}": ${problems.join('; ')}.`, { type: 'GroupOffsetMismatch' });
    }
  }
}

async function initializeGroupOffset(kafka: KafkaIo, input: PartitionInput, next: bigint, stateTopic: string): Promise<void> {
  await kafka.commitRange({
    transactionalId: transactionalId(input),
    groupId: input.groupId,
    topic: input.topic,
    partition: input.partition,
    from: next,
    to: next - 1n,
    firstRun: true,
    records: async function* () {
      yield batchStateRecord(input, { status: 'committed', pipeline: input.pipeline, from: next.toString(), to: (next - 1n).toString(), next: next.toString(), at: new Date().toISOString() }, stateTopic);
    },
  });
}
