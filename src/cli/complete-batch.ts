import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { batchTopics, createCompleteBatchConsumer, EmptyBatchError, publishBatch, type BatchTopics } from '../complete-batch';
import { action, cliContext, withClient, withKafka } from './context';
import { UserError } from '../runtime/errors';
import { onShutdownSignal } from '../runtime/signals';

interface TopicFlags {
  name?: string;
  dataTopic?: string;
  eventTopic?: string;
  outputTopic?: string;
  errorTopic?: string;
}

/** `--name` expands with KTO_TOPIC_PREFIX; explicit topic flags win. */
function topicsOf(prefix: string, flags: TopicFlags): BatchTopics {
  const named = flags.name ? batchTopics(prefix, flags.name) : undefined;
  const pick = (flag: string | undefined, role: keyof BatchTopics) => {
    const topic = flag ?? named?.[role];
    if (!topic) throw new UserError(`no ${role} topic given`, `pass --name <stream> (topics ${prefix}.<stream>.${role} and friends) or --${role}-topic <topic>`);
    return topic;
  };
  return { data: pick(flags.dataTopic, 'data'), event: pick(flags.eventTopic, 'event'), output: pick(flags.outputTopic, 'output'), error: pick(flags.errorTopic, 'error') };
}

/** One payload per non-empty line (JSON, else the line as a string); the record id is the line number, stable across retries. */
async function* jsonLines(file: string): AsyncGenerator<{ id: number; payload: unknown }> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    let payload: unknown = line;
    try {
      payload = JSON.parse(line);
    } catch {
      // A plain text line is a string payload.
    }
    yield { id: n, payload };
  }
}

const withTopicFlags = (c: Command) =>
  c
    .option('--name <stream>', 'stream name under KTO_TOPIC_PREFIX, e.g. sensors.voltage.v1 → com.example.sensors.voltage.v1.{data,event,output,error}')
    .option('--data-topic <topic>', 'data-bearing topic (default from --name)')
    .option('--event-topic <topic>', 'event topic (default from --name)')
    .option('--output-topic <topic>', 'output topic (default from --name)')
    .option('--error-topic <topic>', 'error topic (default from --name)');

export function registerCompleteBatchCommands(program: Command): void {
  const group = program.command('complete-batch').description('complete batches: publish a batch with its event; process each batch once it is complete');

  withTopicFlags(group.command('publish <file>'))
    .description('publish the lines of <file> (JSON lines) as one batch plus its event, in one transaction; a retry with the same --event-id publishes nothing twice')
    .requiredOption('--event-id <id>', 'stable batch id derived from the source, e.g. 20201201-end-of-day')
    .option('--description <text>', 'for traceability, e.g. "EOD import of 20201201.csv"')
    .action(
      action(async (file: string, flags: TopicFlags & { eventId: string; description?: string }) => {
        const { config } = cliContext();
        const topics = topicsOf(config.topicPrefix, flags);
        const result = await withKafka((kafka) =>
          publishBatch(kafka, {
            dataTopic: topics.data,
            eventTopic: topics.event,
            eventId: flags.eventId,
            description: flags.description ?? `kto complete-batch publish ${file}`,
            records: jsonLines(file),
          }),
        ).catch((err: unknown) => {
          if (err instanceof EmptyBatchError) throw new UserError(err.message, `put at least one JSON line in ${file}`);
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`cannot read ${file}: no such file`, 'pass the path of a JSON-lines file');
          throw err;
        });
        const { eventId, capacity, sourceDescriptor: s } = result.event;
        const where = `${s.topic}[${s.partition}]@${s.offset}`;
        process.stdout.write(
          result.status === 'published'
            ? `published batch ${eventId}: ${capacity} records at ${where}, event on ${topics.event}\n`
            : `batch ${eventId} was already published (${capacity} records at ${where}); nothing written. To reprocess it, copy its event record on ${topics.event}\n`,
        );
      }),
    );

  withTopicFlags(group.command('consume'))
    .description('start a completeBatch run per event record (run `kto worker` too); bad events go to the error topic')
    .option('--group <id>', 'consumer group on the event topic (default kto-complete-batch.<event topic>)')
    .option('--deadline <seconds>', 'how long a run waits for an incomplete batch before rejecting it', '600')
    .option('--poll <seconds>', 'pause between reads of the data topic while a batch is incomplete', '2')
    .action(
      action(async (flags: TopicFlags & { group?: string; deadline: string; poll: string }) => {
        const { config, logger } = cliContext();
        const topics = topicsOf(config.topicPrefix, flags);
        const seconds = (v: string, flag: string) => {
          const n = Number(v);
          if (!Number.isFinite(n) || n <= 0) throw new UserError(`${flag} must be a positive number of seconds, got "${v}"`, `e.g. ${flag} 60`);
          return Math.round(n * 1000);
        };
        const deadlineMs = seconds(flags.deadline, '--deadline');
        const pollIntervalMs = seconds(flags.poll, '--poll');
        await withKafka((kafka) =>
          withClient(async (client) => {
            await kafka.admin.ensureTopics([{ topic: topics.output, partitions: 1 }]);
            const consumer = createCompleteBatchConsumer({
              config,
              logger,
              kafka,
              client,
              eventTopic: topics.event,
              groupId: flags.group,
              outputTopic: topics.output,
              errorTopic: topics.error,
              deadlineMs,
              pollIntervalMs,
            });
            void onShutdownSignal().then(() => consumer.stop());
            await consumer.run();
          }),
        );
      }),
    );
}
