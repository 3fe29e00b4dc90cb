import { isRejection, type CommandRegistry } from '../commands/registry';
import type { KafkaIo } from '../kafka';
import { DLQ_HEADERS } from './dead-letter';
import type { DeadLetter } from './dead-letters';
import { CommandDecodeError, IDEMPOTENCY_KEY_HEADER, type CommandDecoder } from './decode';
import { COMMANDS_TOPIC_PARTITIONS } from './index';

/**
 * `kto dlq replay`: dead letters written back to the commands topic after a fix.
 *
 * A replay is idempotent. The replayed record keeps the original's idempotency key (header
 * `kto-idempotency-key`, or the body's `idempotencyKey` field); a command that had none gets the
 * header `<dead-letter topic>-<partition>-<offset>`, the dead letter's own coordinates. Either
 * way every replay of one dead letter maps to one workflow id (`<command>:<key>`), so replaying
 * it twice starts one workflow. A dead letter of a replayed record carries that header along, so
 * replaying it again keeps the same id too. (A command whose `idOf` ignores the key and derives
 * its id from the record's coordinates gets a new id per replay.)
 */

/** Headers on a replayed record naming where it came from; they survive a second dead-lettering. */
export const REPLAY_HEADERS = {
  deadLetterTopic: 'kto-replay-dlq-topic',
  deadLetterPartition: 'kto-replay-dlq-partition',
  deadLetterOffset: 'kto-replay-dlq-offset',
  /** Where the command was first read, before any dead-lettering. */
  sourceTopic: 'kto-replay-source-topic',
  sourcePartition: 'kto-replay-source-partition',
  sourceOffset: 'kto-replay-source-offset',
} as const;

export interface ReplayRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

const DEAD_LETTER_ONLY = new Set<string>(Object.values(DLQ_HEADERS));

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.entries(headers).some(([k, v]) => k.toLowerCase() === name && v !== '');
}

/** The idempotency key a replay of this dead letter gets when the original had none. */
export const replayKeyOf = (deadLetterTopic: string, dl: Pick<DeadLetter, 'partition' | 'offset'>): string => `${deadLetterTopic}-${dl.partition}-${dl.offset}`;

function bodyKey(dl: Pick<DeadLetter, 'decoded'>): boolean {
  if (dl.decoded.format !== 'json' && dl.decoded.format !== 'avro') return false;
  const key = (dl.decoded.value as { idempotencyKey?: unknown } | null)?.idempotencyKey;
  return typeof key === 'string' && key !== '';
}

/** The record a replay writes: the original key and value, its own headers without the dead-letter ones, an idempotency key, and origin headers. */
export function replayRecordOf(deadLetterTopic: string, dl: Pick<DeadLetter, 'partition' | 'offset' | 'key' | 'value' | 'headers' | 'decoded'>): ReplayRecord {
  const original = Object.fromEntries(Object.entries(dl.headers).filter(([k]) => !DEAD_LETTER_ONLY.has(k)));
  const h = dl.headers;
  const firstSource = h[REPLAY_HEADERS.sourceTopic] !== undefined;
  const headers: Record<string, string> = {
    ...original,
    [REPLAY_HEADERS.deadLetterTopic]: deadLetterTopic,
    [REPLAY_HEADERS.deadLetterPartition]: String(dl.partition),
    [REPLAY_HEADERS.deadLetterOffset]: dl.offset.toString(),
    [REPLAY_HEADERS.sourceTopic]: (firstSource ? h[REPLAY_HEADERS.sourceTopic] : h[DLQ_HEADERS.topic]) ?? '',
    [REPLAY_HEADERS.sourcePartition]: (firstSource ? h[REPLAY_HEADERS.sourcePartition] : h[DLQ_HEADERS.partition]) ?? '',
    [REPLAY_HEADERS.sourceOffset]: (firstSource ? h[REPLAY_HEADERS.sourceOffset] : h[DLQ_HEADERS.offset]) ?? '',
  };
  if (!hasHeader(h, IDEMPOTENCY_KEY_HEADER) && !bodyKey(dl)) headers[IDEMPOTENCY_KEY_HEADER] = replayKeyOf(deadLetterTopic, dl);
  return { key: dl.key, value: dl.value, headers };
}

export interface ReplayOutcome {
  ref: string;
  command: string | null;
  reason: string;
  /** `replayed` (written), `would-replay` (dry run), `rejected` (would be dead-lettered again: not written), `truncated` (the original value is lost: not written). */
  verdict: 'replayed' | 'would-replay' | 'rejected' | 'truncated';
  /** The workflow id the dispatcher would start (for a command without its own `idOf`). */
  workflowId?: string;
  /** Why it is rejected: the dead-letter reason it would get now, and the detail. */
  detail?: string;
}

export interface ReplayOptions {
  kafka: KafkaIo;
  deadLetterTopic: string;
  /** The commands topic to write to. */
  topic: string;
  deadLetters: DeadLetter[];
  /** The dispatcher's decoder (JSON, Avro through the registry), and the project's current commands. */
  decoder: CommandDecoder;
  registry: CommandRegistry;
  /** Check and report, write nothing. @default false */
  dryRun?: boolean;
}

/**
 * Checks each dead letter as the dispatcher would now (decode, command lookup, params schema) and
 * writes those that pass to the commands topic in one acks=all send; the others are reported,
 * not written, because the dispatcher would only dead-letter them again.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplayOutcome[]> {
  const { kafka, deadLetterTopic, topic, decoder, registry } = options;
  const outcomes: ReplayOutcome[] = [];
  const writes: ReplayRecord[] = [];
  for (const dl of options.deadLetters) {
    const base = { ref: dl.ref, command: dl.command, reason: dl.reason };
    if (dl.truncated) {
      outcomes.push({ ...base, verdict: 'truncated', detail: `a truncated copy of a ${dl.headers[DLQ_HEADERS.originalSize]}-byte record: the original value is lost` });
      continue;
    }
    const record = replayRecordOf(deadLetterTopic, dl);
    let envelope;
    try {
      envelope = await decoder.decode(record.value, record.headers);
    } catch (err) {
      if (!(err instanceof CommandDecodeError)) throw err;
      outcomes.push({ ...base, verdict: 'rejected', detail: `${err.reason}: ${err.message}` });
      continue;
    }
    const resolved = registry.resolveCommand(envelope, { topic, partition: 0, offset: 0n });
    if (isRejection(resolved)) {
      outcomes.push({ ...base, verdict: 'rejected', detail: `${resolved.reason}: ${resolved.detail}` });
      continue;
    }
    outcomes.push({ ...base, command: resolved.command, verdict: options.dryRun ? 'would-replay' : 'replayed', workflowId: resolved.workflowId });
    writes.push(record);
  }
  if (!options.dryRun && writes.length > 0) {
    await kafka.admin.ensureTopics([{ topic, partitions: COMMANDS_TOPIC_PARTITIONS }]);
    await kafka.produce(writes.map((r) => ({ topic, ...r })));
  }
  return outcomes;
}
