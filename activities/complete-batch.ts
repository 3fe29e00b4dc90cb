import { createAggregator } from '../src/aggregate';
import type { AggregationSpecInput } from '../src/aggregate/spec';
import { KtoError } from '../src/runtime/errors';
import { TopicNotFoundError, type KafkaIo, type OutboundRecord } from '../src/kafka';
import {
  COMPLETE_BATCH_HEADERS,
  completeBatchTxnId,
  createBatchAssembler,
  orderByPosition,
  type BatchEvent,
  type BatchRecord,
  type BatchRejectReason,
  type ProcessBatchInput,
  type ProcessBatchResult,
} from '../src/shared/complete-batch';
import { createStagingWriter, readStaging, removeStaging, stagingPath } from '../src/steps/staging';
import { withHeartbeat } from './heartbeat';

/** What a handler emits: output records (to the output topic) or rejected records (to the error topic). */
export type BatchOutput = { kind: 'output'; key: string | null; value: string } | { kind: 'error'; reason: string; value: string | null; id?: string };

/** A complete batch, deduplicated, in batch order. `records()` streams it from the staging file. */
export interface CompleteBatch {
  event: BatchEvent;
  aggregation: AggregationSpecInput;
  records: () => AsyncIterable<BatchRecord>;
}

/** Turns a complete batch into output; everything it yields lands in one transaction, once per run. */
export type BatchHandler = (batch: CompleteBatch) => AsyncIterable<BatchOutput>;

/** The batch pipeline's aggregation (src/aggregate) over the payloads; malformed payloads go to the error topic. */
export const aggregateHandler: BatchHandler = async function* ({ aggregation, records }) {
  const aggregator = createAggregator(aggregation);
  for await (const r of records()) {
    const value = typeof r.payload === 'string' ? r.payload : JSON.stringify(r.payload);
    const result = aggregator.add(value, BigInt(r.offset));
    if (!result.ok) yield { kind: 'error', reason: result.reason, value, id: r.id };
  }
  for (const row of aggregator.results()) yield { kind: 'output', key: row.key, value: JSON.stringify(row) };
};

export interface CompleteBatchActivityDeps {
  kafka: KafkaIo;
  stagingDir: string;
  /** Handlers a run may name (an allowlist, like the command registry). @default { aggregate: aggregateHandler } */
  batchHandlers?: Record<string, BatchHandler>;
}

/** Stops the range reader as soon as the batch is complete (kafkajs has no other early exit). */
class BatchComplete extends Error {}

export function createCompleteBatchActivities({ kafka, stagingDir, batchHandlers = { aggregate: aggregateHandler } }: CompleteBatchActivityDeps) {
  return {
    /**
     * One pass over a batch: reads the data topic (read_committed) from the source descriptor
     * up to the current high watermark, stages the batch's distinct records on local disk and,
     * once complete, lands the handler's output — or, on a persistent problem or at the
     * deadline (`final`), the error record — in one transaction, at most once per run.
     * Idempotency: the transaction also commits offset `eventOffset + 1` for the consumer group
     * `kto-complete-batch.<run>` on the event partition (commitRange); a retry that finds it
     * there returns `already-processed` without writing (invariant 11, docs/design.md).
     */
    async processCompleteBatch(input: ProcessBatchInput): Promise<ProcessBatchResult> {
      const started = Date.now();
      const { event } = input;
      const handler = batchHandlers[input.handler];
      if (!handler) {
        throw new KtoError(`batch handler "${input.handler}" is not registered (known: ${Object.keys(batchHandlers).join(', ')})`, { type: 'UnknownBatchHandler' });
      }
      const assembler = createBatchAssembler(event.eventId, event.capacity);
      const file = stagingPath(stagingDir, 'complete-batch', input.runId, 'records');
      const result = (status: ProcessBatchResult['status'], extra: Partial<ProcessBatchResult> = {}): ProcessBatchResult => ({
        status,
        kept: assembler.kept,
        duplicates: assembler.duplicates,
        outputRecords: 0,
        errorRecords: 0,
        durationMs: Date.now() - started,
        ...extra,
      });
      const headers = {
        [COMPLETE_BATCH_HEADERS.eventId]: event.eventId,
        [COMPLETE_BATCH_HEADERS.run]: input.runId,
        [COMPLETE_BATCH_HEADERS.eventTopic]: input.eventSource.topic,
        [COMPLETE_BATCH_HEADERS.eventPartition]: String(input.eventSource.partition),
        [COMPLETE_BATCH_HEADERS.eventOffset]: input.eventSource.offset,
      };
      const land = async (records: () => AsyncIterable<OutboundRecord>) => {
        const from = BigInt(input.eventSource.offset);
        const landed = await withHeartbeat(() =>
          kafka.commitRange({
            transactionalId: completeBatchTxnId(input.runId),
            groupId: completeBatchTxnId(input.runId),
            topic: input.eventSource.topic,
            partition: input.eventSource.partition,
            from,
            to: from,
            firstRun: true,
            records,
          }),
        );
        return landed.status === 'committed';
      };
      const reject = async (reason: BatchRejectReason, detail: string, value: string | null = JSON.stringify(event)) => {
        await kafka.admin.ensureTopics([{ topic: input.errorTopic, partitions: 1 }]);
        const written = await land(async function* () {
          yield { topic: input.errorTopic, partition: 0, key: event.eventId, value, headers: { ...headers, [COMPLETE_BATCH_HEADERS.reason]: reason, [COMPLETE_BATCH_HEADERS.error]: detail } };
        });
        return written ? result('rejected', { reason, errorRecords: 1 }) : result('already-processed', { reason });
      };

      const { topic, partition } = event.sourceDescriptor;
      const from = BigInt(event.sourceDescriptor.offset);
      let high: bigint;
      try {
        const mark = (await kafka.admin.watermarks(topic)).find((w) => w.partition === partition);
        if (!mark) return await reject('bad-source-descriptor', `data topic "${topic}" has no partition ${partition}`);
        if (from < mark.low) return await reject('bad-source-descriptor', `offsets before ${mark.low} of ${topic}[${partition}] were deleted by retention; the batch starts at ${from}`);
        high = mark.high;
      } catch (err) {
        if (err instanceof TopicNotFoundError) return await reject('bad-source-descriptor', err.message);
        throw err;
      }

      const writer = await createStagingWriter(file);
      try {
        if (from < high) {
          await withHeartbeat((progress) =>
            kafka
              .readRange({
                topic,
                partition,
                from,
                to: high - 1n,
                onRecords: async (records) => {
                  const kept = [];
                  for (let i = 0; i < records.length; i++) {
                    const offset = String(records.offset(i));
                    const offer = assembler.offer(records.key(i)?.toString('utf8') ?? null, records.value(i)?.toString('utf8') ?? null, offset);
                    if (offer.record) kept.push({ offset, value: Buffer.from(JSON.stringify(offer.record)), note: null });
                  }
                  await writer.write(kept);
                  progress({ kept: assembler.kept, duplicates: assembler.duplicates });
                  if (assembler.complete || assembler.bad.length > 0) throw new BatchComplete();
                },
              })
              .catch((err: unknown) => {
                if (!(err instanceof BatchComplete)) throw err;
              }),
          );
        }
      } finally {
        await writer.close();
      }

      try {
        if (assembler.bad.length > 0) {
          const first = assembler.bad[0];
          return await reject('bad-record', `data record at ${topic}[${partition}]@${first.kafkaOffset} is keyed with the batch id but ${first.reason}`);
        }
        if (!assembler.complete) {
          if (!input.final) return result('incomplete');
          return await reject('incomplete-batch', `${assembler.kept} of ${event.capacity} records found in ${topic}[${partition}] from offset ${from} before the deadline`);
        }
        const outputPartitions = await kafka.admin.partitions(input.outputTopic);
        await kafka.admin.ensureTopics([{ topic: input.errorTopic, partitions: 1 }]);
        const outputPartition = outputPartitions[input.eventSource.partition % outputPartitions.length];
        let outputRecords = 0;
        let errorRecords = 0;
        const inOrder = assembler.inOrder;
        const batch: CompleteBatch = {
          event,
          aggregation: input.aggregation,
          records: async function* () {
            if (inOrder) {
              for await (const rows of readStaging(file)) for (const row of rows) yield JSON.parse(row.value!.toString('utf8')) as BatchRecord;
              return;
            }
            // Only a producer that wrote its records out of order pays for holding the batch in memory.
            const all: BatchRecord[] = [];
            for await (const rows of readStaging(file)) for (const row of rows) all.push(JSON.parse(row.value!.toString('utf8')) as BatchRecord);
            yield* orderByPosition(all);
          },
        };
        const written = await land(async function* () {
          outputRecords = 0;
          errorRecords = 0;
          for await (const out of handler(batch)) {
            if (out.kind === 'output') {
              outputRecords++;
              yield { topic: input.outputTopic, partition: outputPartition, key: out.key, value: out.value, headers };
            } else {
              errorRecords++;
              yield {
                topic: input.errorTopic,
                partition: 0,
                key: event.eventId,
                value: out.value,
                headers: { ...headers, [COMPLETE_BATCH_HEADERS.reason]: out.reason.split(':')[0], [COMPLETE_BATCH_HEADERS.error]: `record ${out.id ?? '?'}: ${out.reason}` },
              };
            }
          }
        });
        return written ? result('processed', { outputRecords, errorRecords }) : result('already-processed');
      } finally {
        await removeStaging(file);
      }
    },
  };
}
