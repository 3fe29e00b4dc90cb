import type { Client } from '@temporalio/client';
import { z } from 'zod';
import type { AggregationSpecInput } from '../aggregate/spec';
import { createCommandRegistry, defineCommand, type CommandDefinition } from '../commands/registry';
import type { KtoConfig } from '../runtime/config';
import { createDispatcher, type DispatcherOptions } from '../dispatcher';
import { CommandDecodeError, type CommandDecoder } from '../dispatcher/decode';
import type { KafkaIo, PublishRecord } from '../kafka';
import type { Logger } from '../runtime/logger';
import type { BatchEvent, CompleteBatchInput } from '../shared/complete-batch';

/**
 * Complete batches (README "Complete batches"): publishing a batch with its event in one
 * transaction, and the consumer that turns each event record into one `completeBatch` run
 * through the command dispatcher (its in-order commits, dead letters and id policies).
 */

/** Topics of one batch stream, named `<prefix>.<name>.<role>`, e.g. `com.example.sensors.voltage.v1.data`. */
export interface BatchTopics {
  data: string;
  event: string;
  output: string;
  error: string;
}

/** The seed's reverse-DNS convention: data-bearing topic, event topic, plus kto's output and error topics. */
export function batchTopics(prefix: string, name: string): BatchTopics {
  const base = `${prefix}.${name}`;
  return { data: `${base}.data`, event: `${base}.event`, output: `${base}.output`, error: `${base}.error` };
}

const offsetSchema = z.union([z.number().int().min(0), z.string().regex(/^(?:0|[1-9]\d*)$/, 'must be a whole number ≥ 0')]).transform(String);

/** An event record's value, validated; the dispatcher dead-letters anything else as `invalid-params`. */
export const batchEventSchema = z
  .object({
    eventId: z.string().min(1).max(200),
    capacity: z.number().int().min(1),
    sourceDescriptor: z.object({ topic: z.string().min(1), partition: z.number().int().min(0), offset: offsetSchema }),
    description: z.string().max(10_000).default(''),
  })
  .transform((e): BatchEvent => e);

export const COMPLETE_BATCH_COMMAND = 'kto.complete_batch';

/** Event records are bare events, not command envelopes: every one names the complete-batch command. */
export function batchEventDecoder(): CommandDecoder {
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  return {
    decode(value) {
      if (value === null || value.length === 0) return Promise.reject(new CommandDecodeError('undecodable', 'event record has no value'));
      try {
        return Promise.resolve({ command: COMPLETE_BATCH_COMMAND, params: JSON.parse(utf8.decode(value)) as unknown });
      } catch {
        return Promise.reject(new CommandDecodeError('undecodable', `event record (${value.length} bytes) is not UTF-8 JSON`));
      }
    },
  };
}

export interface CompleteBatchOptions {
  outputTopic: string;
  errorTopic: string;
  /** Registered handler name. @default 'aggregate' */
  handler?: string;
  /** @default daily mean of `voltage` by `datetime` */
  aggregation?: AggregationSpecInput;
  /** How long a run waits for an incomplete batch before rejecting it with `incomplete-batch`. @default 600_000 (10 min) */
  deadlineMs?: number;
  /** Pause between reads of the data topic while the batch is incomplete. @default 2_000 */
  pollIntervalMs?: number;
  /** Heartbeat timeout of the processing step. @default 30_000 */
  workerLossTimeoutMs?: number;
}

function withDefaults(o: CompleteBatchOptions): Omit<CompleteBatchInput, 'event' | 'eventSource'> {
  return {
    outputTopic: o.outputTopic,
    errorTopic: o.errorTopic,
    handler: o.handler ?? 'aggregate',
    aggregation: o.aggregation ?? {},
    deadlineMs: o.deadlineMs ?? 600_000,
    pollIntervalMs: o.pollIntervalMs ?? 2_000,
    workerLossTimeoutMs: o.workerLossTimeoutMs ?? 30_000,
  };
}

/** The registry entry: event → `completeBatch`, workflow id `kto.complete_batch:<event topic>-<partition>-<offset>` (the registry's default). */
export function completeBatchCommand(options: CompleteBatchOptions): CommandDefinition {
  const settings = withDefaults(options);
  return defineCommand({
    name: COMPLETE_BATCH_COMMAND,
    workflow: 'completeBatch',
    params: batchEventSchema,
    toArgs: (event, { source }): [CompleteBatchInput] => [
      { ...settings, event, eventSource: { topic: source.topic, partition: source.partition, offset: source.offset.toString() } },
    ],
  });
}

export interface CompleteBatchConsumerOptions extends CompleteBatchOptions {
  config: KtoConfig;
  logger: Logger;
  kafka: KafkaIo;
  client: Client;
  eventTopic: string;
  /** @default `kto-complete-batch.<event topic>` */
  groupId?: string;
  /**
   * Events with the same key (the eventId) run one after another, so a reprocess never
   * overlaps the run it repeats. @default true
   */
  ordered?: boolean;
  afterStartHook?: DispatcherOptions['afterStartHook'];
}

/** A dispatcher on the event topic whose only command is complete-batch; bad events go to the error topic. */
export function createCompleteBatchConsumer(o: CompleteBatchConsumerOptions) {
  const registry = createCommandRegistry({ taskQueue: o.config.temporal.taskQueue, commands: [completeBatchCommand(o)] });
  return createDispatcher({
    config: {
      dispatcher: {
        ...o.config.dispatcher,
        topic: o.eventTopic,
        groupId: o.groupId ?? `kto-complete-batch.${o.eventTopic}`,
        deadLetterTopic: o.errorTopic,
        ordered: o.ordered ?? true,
      },
    },
    logger: o.logger,
    kafka: o.kafka,
    client: o.client,
    registry,
    decoder: batchEventDecoder(),
    afterStartHook: o.afterStartHook,
  });
}

export interface PublishBatchOptions {
  dataTopic: string;
  eventTopic: string;
  /** Stable batch id derived from the source (e.g. `20201201-end-of-day`): a retry must reuse it. */
  eventId: string;
  description?: string;
  /** The batch's records in order; `offset` (position) is their index. */
  records: AsyncIterable<{ id: string | number; payload: unknown }> | Iterable<{ id: string | number; payload: unknown }>;
}

export type PublishBatchResult = { status: 'published'; event: BatchEvent } | { status: 'already-published'; event: BatchEvent };

/** A batch with no records has no source descriptor and nothing to process. */
export class EmptyBatchError extends Error {
  constructor(eventId: string) {
    super(`batch "${eventId}" has no records; an event needs at least one record to point at`);
    this.name = 'EmptyBatchError';
  }
}

/**
 * Publishes a batch's records and then its event in one transaction (transactional id
 * `kto-batch-events.<event topic>.<eventId>`), so consumers never see half a batch. The event's
 * source descriptor is where the first record landed (the first send's base offset). Records
 * and event are keyed by eventId, so all records land in one partition.
 *
 * No republish: inside the transaction, after the fence (which settles any earlier attempt's
 * transaction), the event topic is searched for an event with this eventId; if one is there
 * the transaction is aborted and the earlier event returned. The event itself is the marker,
 * as the seed suggests; the search reads the whole event topic (keep its retention longer
 * than the sources' and its size modest).
 */
export async function publishBatch(kafka: KafkaIo, o: PublishBatchOptions): Promise<PublishBatchResult> {
  await kafka.admin.ensureTopics([
    { topic: o.dataTopic, partitions: 1 },
    { topic: o.eventTopic, partitions: 1 },
  ]);
  return kafka.publishTransaction<PublishBatchResult>({
    transactionalId: `kto-batch-events.${o.eventTopic}.${o.eventId}`,
    async run(txn) {
      const existing = await findEvent(kafka, o.eventTopic, o.eventId);
      if (existing) return { commit: false, result: { status: 'already-published', event: existing } };
      let capacity = 0;
      async function* records(): AsyncGenerator<PublishRecord> {
        for await (const r of o.records) {
          yield { topic: o.dataTopic, key: o.eventId, value: JSON.stringify({ eventId: o.eventId, id: r.id, offset: capacity, payload: r.payload }) };
          capacity++;
        }
      }
      const [first] = await txn.send(records());
      if (!first || capacity === 0) throw new EmptyBatchError(o.eventId);
      const event: BatchEvent = {
        eventId: o.eventId,
        capacity,
        sourceDescriptor: { topic: first.topic, partition: first.partition, offset: first.baseOffset.toString() },
        description: o.description ?? '',
      };
      const wire = { ...event, sourceDescriptor: { ...event.sourceDescriptor, offset: Number(first.baseOffset) } };
      await txn.send([{ topic: o.eventTopic, key: o.eventId, value: JSON.stringify(wire) }]);
      return { commit: true, result: { status: 'published', event } };
    },
  });
}

/** The first committed event of `eventId` on the event topic, if any. */
export async function findEvent(kafka: KafkaIo, eventTopic: string, eventId: string): Promise<BatchEvent | undefined> {
  for (const r of await kafka.readTopic({ topic: eventTopic })) {
    if (r.key !== eventId || r.value === null) continue;
    try {
      const parsed = batchEventSchema.safeParse(JSON.parse(r.value));
      if (parsed.success && parsed.data.eventId === eventId) return parsed.data;
    } catch {
      // Not an event; someone else's record under the same key.
    }
  }
  return undefined;
}
