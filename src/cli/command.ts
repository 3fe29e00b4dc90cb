import type { Command } from 'commander';
import { loadPipelines } from '../project/load';
import { builtInCommands, isRejection, projectCommandRegistry, type CommandEnvelope } from '../commands/registry';
import type { KtoConfig } from '../runtime/config';
import { encodeAvroCommand } from '../dispatcher/decode';
import { headersOf, jsonCommandRecord, sendCommandRecord } from '../dispatcher/records';
import { action, cliContext, withKafka } from './context';
import { UserError } from '../runtime/errors';
import { SchemaRegistryAuthError } from '../runtime/schema-registry';

/** Confluent-framed Avro (the seed's format), registered under the topic's `<topic>-value` subject. */
export async function avroCommandRecord(config: KtoConfig, topic: string, message: CommandEnvelope): Promise<{ value: Buffer; headers: Record<string, string> }> {
  let value: Buffer;
  try {
    value = await encodeAvroCommand({ schemaRegistry: config.schemaRegistry, subject: `${topic}-value` }, message);
  } catch (err) {
    if (err instanceof SchemaRegistryAuthError) throw err;
    throw new UserError(
      `could not encode the command as Avro via the schema registry at ${config.schemaRegistry.url} (${(err as Error).message}).`,
      'start the registry (kto dev up) or set KTO_SCHEMA_REGISTRY_URL, or omit --avro to send JSON',
    );
  }
  return { value, headers: headersOf(message) };
}

function parseParams(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError(`--params is not valid JSON (${(err as Error).message}).`, `quote it for your shell, e.g. --params '{"email":"ops@example.com"}'`);
  }
}

interface SendFlags {
  params: string;
  key?: string;
  idempotencyKey?: string;
  avro?: boolean;
  topic?: string;
}

async function send(name: string, flags: SendFlags): Promise<void> {
  const { config } = cliContext();
  const topic = flags.topic ?? config.dispatcher.topic;
  const message: CommandEnvelope = { command: name, params: parseParams(flags.params), idempotencyKey: flags.idempotencyKey };
  // Checked here too, so a typo fails at the prompt instead of in the dead-letter topic.
  const registry = projectCommandRegistry({ taskQueue: config.temporal.taskQueue, operatorEmail: config.alertOperatorEmail, commands: loadPipelines().commands });
  const resolved = registry.resolveCommand(message, { topic, partition: 0, offset: 0n });
  if (isRejection(resolved)) {
    throw new UserError(`the dispatcher would reject this command (${resolved.reason}): ${resolved.detail}.`, 'fix the command name or --params');
  }
  const record = flags.avro ? await avroCommandRecord(config, topic, message) : jsonCommandRecord(message);
  await withKafka((kafka) => sendCommandRecord(kafka, topic, record, flags.key));
  process.stdout.write(`sent ${resolved.command} to ${topic}${flags.idempotencyKey ? ` (workflow id ${resolved.workflowId})` : ''}\n`);
}

/** Adds `kto command send`. */
export function registerCommandCommands(program: Command): Command {
  const command = program.command('command').description('send commands to the dispatcher through the commands topic');
  command
    .command('send')
    .description('produce one command record (JSON by default)')
    .argument('<name>', `registered command, e.g. ${builtInCommands().map((c) => c.name).join(', ')}`)
    .requiredOption('--params <json>', 'the command parameters as a JSON object')
    .option('--key <key>', 'Kafka record key (ordered mode runs commands with the same key one after another)')
    .option('--idempotency-key <id>', 'sending the same key again starts nothing new; the workflow id is <command>:<id>')
    .option('--avro', 'encode as Avro via the schema registry (Confluent wire format)')
    .option('--topic <topic>', 'commands topic (default: KTO_DISPATCHER_TOPIC)')
    .addHelpText('after', `\nExample:\n  kto command send app.send_email_alert --params '{"email":"ops@example.com","subject":"disk full"}'\n`)
    .action(action(send));
  return command;
}
