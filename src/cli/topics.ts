import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { KafkaIo } from '../kafka';
import { newTable } from './format';
import { action, positiveInt, withKafka } from './context';
import { UserError } from '../runtime/errors';
import { registerTailCommand } from './topics-tail';

/** Looks the topic up in the full topic list: asking for a missing topic by name makes kafkajs log an error. */
async function partitionCount(kafka: KafkaIo, topic: string): Promise<number | null> {
  return (await kafka.listTopics()).find((t) => t.topic === topic)?.partitions ?? null;
}

export interface CreateTopicResult {
  topic: string;
  partitions: number;
  created: boolean;
}

/**
 * Creates `topic` with `partitions`, or as many as `like` has (an output topic must be
 * co-partitioned with its input). An existing topic with that count is fine; another count is an error.
 */
export async function createTopic(kafka: KafkaIo, topic: string, spec: { partitions?: number; like?: string }): Promise<CreateTopicResult> {
  let partitions = spec.partitions;
  if (spec.like) {
    const likeCount = await partitionCount(kafka, spec.like);
    if (likeCount === null) throw new UserError(`--like topic "${spec.like}" does not exist.`, 'create the input topic first, or pass --partitions N');
    partitions = likeCount;
  }
  if (partitions === undefined) throw new UserError('say how many partitions the topic gets.', `kto topics create ${topic} --partitions 8, or --like <input topic>`);
  const existing = await partitionCount(kafka, topic);
  if (existing !== null) {
    if (existing !== partitions) {
      throw new UserError(
        `topic "${topic}" already exists with ${existing} partitions, not ${partitions}.`,
        'Kafka cannot remove partitions: use another topic name, or delete and recreate the topic if its data can go',
      );
    }
    return { topic, partitions, created: false };
  }
  await kafka.admin.ensureTopics([{ topic, partitions }]);
  return { topic, partitions, created: true };
}

async function create(topic: string, flags: { partitions?: string; like?: string }): Promise<void> {
  if (flags.partitions !== undefined && flags.like !== undefined) throw new UserError('--partitions and --like are alternatives.', 'pass one of them');
  const partitions = flags.partitions === undefined ? undefined : positiveInt(flags.partitions, '--partitions');
  const result = await withKafka((kafka) => createTopic(kafka, topic, { partitions, like: flags.like }));
  process.stdout.write(`${result.created ? 'created' : 'exists '} ${result.topic} (${result.partitions} partitions)\n`);
}

async function list(flags: { json?: boolean }): Promise<void> {
  const topics = await withKafka((kafka) => kafka.listTopics());
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(topics)}\n`);
    return;
  }
  const table = newTable(['topic', 'partitions']);
  for (const t of topics) table.push([t.topic, t.partitions]);
  process.stdout.write(`${table.toString()}\n`);
}

/** Adds `kto topics create | list | produce | tail`. */
export function registerTopicsCommands(program: Command): Command {
  const topics = program.command('topics').description('create and list Kafka topics, write JSON records to one, print one\'s records');
  topics
    .command('create')
    .description('create a topic (an existing one with the same partition count is left alone)')
    .argument('<name>')
    .option('--partitions <n>', 'number of partitions')
    .option('--like <topic>', 'as many partitions as this topic (co-partitioned output topics)')
    .action(action(create));
  topics.command('list').description('every topic with its partition count').option('--json', 'print JSON').action(action(list));
  topics
    .command('produce')
    .description('write JSON records, one per line, from a file or stdin to a topic (sample data, replays)')
    .argument('<topic>', 'existing topic')
    .argument('[file]', 'JSON Lines file; stdin when absent')
    .option('--key-field <field>', 'use this field of each record as its key (else no key: round-robin)')
    .action(action(produce));
  registerTailCommand(topics);
  return topics;
}

/** Reads JSON Lines (blank lines skipped) and writes each record as its JSON text, keyed by `--key-field` when given. */
async function produce(topic: string, file: string | undefined, flags: { keyField?: string }): Promise<void> {
  if (file && !existsSync(file)) throw new UserError(`${file} does not exist.`, 'give the path of a JSON Lines file, or pipe the records to stdin');
  const records: Array<{ topic: string; key: string | null; value: string }> = [];
  const lines = createInterface({ input: file ? createReadStream(file) : process.stdin, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new UserError(`line ${n} of ${file ?? 'stdin'} is not JSON (${(err as Error).message}); nothing was written.`, 'give one JSON value per line (JSON Lines)');
    }
    const key = flags.keyField === undefined ? null : (value as Record<string, unknown> | null)?.[flags.keyField];
    if (flags.keyField !== undefined && (key === undefined || key === null || typeof key === 'object')) {
      throw new UserError(`line ${n} of ${file ?? 'stdin'} has no scalar field "${flags.keyField}" for its key; nothing was written.`, 'fix the record, or drop --key-field');
    }
    records.push({ topic, key: key === null ? null : String(key), value: JSON.stringify(value) });
  }
  await withKafka(async (kafka) => {
    // An unknown topic fails here with the fix, instead of being created with the broker's defaults.
    await kafka.admin.partitions(topic);
    await kafka.produce(records);
  });
  process.stdout.write(`${records.length} record(s) written to ${topic}\n`);
}
