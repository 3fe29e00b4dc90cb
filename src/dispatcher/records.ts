import type { CommandEnvelope } from '../commands/registry';
import type { KafkaIo } from '../kafka';
import { IDEMPOTENCY_KEY_HEADER } from './decode';
import { COMMANDS_TOPIC_PARTITIONS } from './index';

/** The idempotency key travels in the header the decoder reads (it also accepts an `idempotencyKey` field). */
export const headersOf = (message: CommandEnvelope): Record<string, string> => (message.idempotencyKey ? { [IDEMPOTENCY_KEY_HEADER]: message.idempotencyKey } : {});

/** A command record in kto's JSON envelope: `{"command": ..., "params": {...}}`, idempotency key as a header. */
export function jsonCommandRecord(message: CommandEnvelope): { value: Buffer; headers: Record<string, string> } {
  return {
    value: Buffer.from(JSON.stringify({ command: message.command, params: message.params })),
    headers: headersOf(message),
  };
}

/** Puts a command record on `topic`, creating the commands topic first when it does not exist. */
export async function sendCommandRecord(kafka: KafkaIo, topic: string, record: { value: Buffer; headers: Record<string, string> }, key?: string): Promise<void> {
  await kafka.admin.ensureTopics([{ topic, partitions: COMMANDS_TOPIC_PARTITIONS }]);
  await kafka.produce([{ topic, key: key ?? null, value: record.value, headers: record.headers }]);
}
