import type { Duration } from '@temporalio/common';
import type { Command } from 'commander';
import { VOLTAGE_DAILY_PIPELINE } from '../demo/voltage';
import { TopicNotFoundError } from '../kafka';
import { loadPipelines } from '../project/load';
import { batchOptionsOf, batchPipelineFields, DURATION, findBatchPipeline, withoutUndefined, type BatchPipelineConfig } from '../project/pipelines-file';
import { batchPipelineWithDefaults, type BatchPipelineOptions } from '../shared/batch';
import { resetBatchPartitions, type ResetTarget } from '../steps/batch-state';
import { formatOutputRecords, runBatchCommand } from './batch-run';
import { action, cliContext, positiveInt, unknownPipelineError, withClient, withKafka } from './context';
import { UserError } from '../runtime/errors';

interface RunFlags {
  topic?: string;
  outputTopic?: string;
  group?: string;
  errorTopic?: string;
  startFrom?: string;
  maxConcurrentPartitions?: string;
  aggregation?: string;
  timeout?: string;
  json?: boolean;
  wait: boolean;
}

/** A declared batch pipeline by name; the demo pipeline is known even without a project. */
export function resolveBatchPipeline(name: string): BatchPipelineConfig | undefined {
  const pipelines = loadPipelines();
  const found = findBatchPipeline(pipelines, name);
  if (found) return found;
  if (name === VOLTAGE_DAILY_PIPELINE.name) return { ...VOLTAGE_DAILY_PIPELINE };
  return undefined;
}

function unknownPipeline(name: string): UserError {
  return unknownPipelineError('batch', name, loadPipelines(), '', 'declare it with defineBatchPipeline in kto.config.ts (or in kto.pipelines.yaml), or pass --topic, --output-topic and --group');
}

/** The `kto batch run` flags that override a pipeline's fields, checked by the pipeline schema's own rules. */
const FLAG_FIELDS = {
  topic: '--topic',
  outputTopic: '--output-topic',
  groupId: '--group',
  errorTopic: '--error-topic',
  startFrom: '--start-from',
  maxConcurrentPartitions: '--max-concurrent-partitions',
  aggregation: '--aggregation',
} as const;
const flagsSchema = batchPipelineFields.pick({ topic: true, outputTopic: true, groupId: true, errorTopic: true, startFrom: true, maxConcurrentPartitions: true, aggregation: true }).partial();

/** The flags as pipeline fields, or a UserError naming the flag that breaks which rule; nothing starts before this passes. */
function fieldsFromFlags(flags: RunFlags): Partial<BatchPipelineOptions> {
  let aggregation: unknown;
  if (flags.aggregation) {
    try {
      aggregation = JSON.parse(flags.aggregation);
    } catch (err) {
      throw new UserError(`--aggregation is not valid JSON: ${(err as Error).message}.`, `e.g. --aggregation '{"valueField":"voltage","bucket":"hour"}'`);
    }
  }
  const given = {
    topic: flags.topic,
    outputTopic: flags.outputTopic,
    groupId: flags.group,
    errorTopic: flags.errorTopic,
    startFrom: flags.startFrom,
    maxConcurrentPartitions: flags.maxConcurrentPartitions === undefined ? undefined : Number(flags.maxConcurrentPartitions),
    aggregation,
  };
  const parsed = flagsSchema.safeParse(withoutUndefined(given));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = FLAG_FIELDS[issue.path[0] as keyof typeof FLAG_FIELDS];
    const where = issue.path.length > 1 ? ` (at ${issue.path.slice(1).join('.')})` : '';
    throw new UserError(`${flag} is not valid${where}: ${issue.message}.`, 'see kto batch run --help, and the pipeline fields in the README');
  }
  return parsed.data as Partial<BatchPipelineOptions>;
}

/** The workflow input from a configured pipeline and/or flags; flags win. */
function pipelineFrom(name: string | undefined, flags: RunFlags): { options: BatchPipelineOptions; timeout?: Duration } {
  const overrides = fieldsFromFlags(flags);
  const configured = name ? resolveBatchPipeline(name) : undefined;
  if (name && !configured && !(flags.topic && flags.outputTopic && flags.group)) throw unknownPipeline(name);
  const base: Partial<BatchPipelineOptions> = configured ? batchOptionsOf(configured) : name ? { pipeline: name } : {};
  if (overrides.aggregation && base.processor) {
    throw new UserError(`pipeline "${name}" runs its own processor, so --aggregation has nothing to configure.`, 'drop --aggregation, or run the built-in aggregation with --topic, --output-topic and --group and no pipeline name');
  }
  const options = { ...base, ...overrides };
  const missing = (['topic', 'outputTopic', 'groupId'] as const).filter((k) => !options[k]);
  if (missing.length) {
    throw new UserError(
      `batch run needs a pipeline name from kto.config.ts or the pipelines file, or --topic, --output-topic and --group (missing: ${missing.join(', ')}).`,
      'e.g. kto batch run voltage-daily, or kto batch run --topic in --output-topic out --group my-group',
    );
  }
  return { options: withoutUndefined(options) as BatchPipelineOptions, timeout: (flags.timeout as Duration | undefined) ?? configured?.schedule?.timeout };
}

async function run(name: string | undefined, flags: RunFlags): Promise<void> {
  const { config } = cliContext();
  if (flags.timeout && !DURATION.test(flags.timeout)) throw new UserError(`--timeout must be a duration, got "${flags.timeout}".`, 'e.g. --timeout 60m');
  const { options, timeout } = pipelineFrom(name, flags);
  await withClient((client) => runBatchCommand({ client, config, pipeline: options, runTimeout: timeout, json: flags.json, wait: flags.wait }));
}

async function output(name: string, flags: { limit: string; json?: boolean }): Promise<void> {
  const pipeline = resolveBatchPipeline(name);
  if (!pipeline) throw unknownPipeline(name);
  const limit = positiveInt(flags.limit, '--limit');
  await withKafka(async (kafka) => {
    const records = await kafka.readTopic({ topic: pipeline.outputTopic, limit }).catch((err: unknown) => {
      if (err instanceof TopicNotFoundError) throw new UserError(`output topic "${pipeline.outputTopic}" does not exist yet.`, `run the pipeline first: kto batch run ${name}`);
      throw err;
    });
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(records.map((r) => ({ ...r, offset: r.offset.toString(), value: parseJson(r.value) })))}\n`);
      return;
    }
    if (records.length === 0) {
      process.stdout.write(`no committed records in ${pipeline.outputTopic} yet. Run: kto batch run ${name}\n`);
      return;
    }
    process.stdout.write(`${formatOutputRecords(records)}\n${records.length} record(s) of ${pipeline.outputTopic} (read_committed)\n`);
  });
}

interface ResetFlags {
  to: string;
  partition?: string[];
  topic?: string;
  group?: string;
  json?: boolean;
}

function resetTarget(to: string): ResetTarget {
  if (to === 'earliest' || to === 'latest') return to;
  if (/^\d+$/.test(to)) return BigInt(to);
  throw new UserError(`--to must be earliest, latest or an offset, got "${to}".`, 'e.g. --to earliest, or --to 1200 --partition 3');
}

/**
 * Moves a pipeline's group offset and kto's state record together: the way to replay, to skip,
 * or to go on after a topic was recreated. Refused while a run of the pipeline is in flight.
 */
async function reset(name: string | undefined, flags: ResetFlags): Promise<void> {
  const target = resetTarget(flags.to);
  const partitions = flags.partition?.map((p) => {
    if (!/^\d+$/.test(p)) throw new UserError(`--partition must be a partition number, got "${p}".`, 'e.g. --partition 0 --partition 3');
    return Number(p);
  });
  const configured = name ? resolveBatchPipeline(name) : undefined;
  if (name && !configured && !(flags.topic && flags.group)) throw unknownPipeline(name);
  const topic = flags.topic ?? configured?.topic;
  const groupId = flags.group ?? configured?.groupId;
  if (!topic || !groupId) throw new UserError('batch reset needs a pipeline name, or --topic and --group.', 'e.g. kto batch reset voltage-daily --to earliest');
  const pipeline = batchPipelineWithDefaults({ ...(name && { pipeline: name }), topic, groupId, outputTopic: configured?.outputTopic ?? '' });
  const running = await withClient(async (client) => {
    for await (const run of client.workflow.list({ query: `KtoPipeline = '${pipeline.pipeline}' AND ExecutionStatus = 'Running'` })) return run.workflowId;
    return undefined;
  });
  if (running) throw new UserError(`pipeline "${pipeline.pipeline}" has a run in flight (${running}); a reset now would race it.`, `wait for it to end, or stop it: temporal workflow terminate --workflow-id ${running}`);
  const resets = await withKafka((kafka) => resetBatchPartitions(kafka, pipeline, target, partitions)).catch((err: unknown) => {
    if (err instanceof TopicNotFoundError) throw new UserError(err.message);
    throw err;
  });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(resets.map((r) => ({ partition: r.partition, before: r.before?.toString() ?? null, after: r.after.toString() })))}\n`);
    return;
  }
  for (const r of resets) process.stdout.write(`partition ${r.partition}: ${r.before ?? 'no offset'} → ${r.after}\n`);
  process.stdout.write(`group "${pipeline.groupId}" on "${pipeline.topic}" reset; the next run of ${pipeline.pipeline} starts there.\n`);
}

function parseJson(value: string | null): unknown {
  try {
    return value === null ? null : JSON.parse(value);
  } catch {
    return value;
  }
}

/** Adds `kto batch run | output | reset`. */
export function registerBatchCommands(program: Command): Command {
  const batch = program.command('batch').description('run a batch pipeline now and look at its output');
  batch
    .command('run')
    .description('start the batch workflow of a pipeline now, follow its progress and print its report (refused while a run of the pipeline is in flight)')
    .argument('[pipeline]', 'name of a batch pipeline of kto.config.ts or kto.pipelines.yaml')
    .option('--topic <topic>', 'input topic (overrides the pipeline\'s)')
    .option('--output-topic <topic>', 'output topic, co-partitioned with the input')
    .option('--group <groupId>', 'consumer group holding the pipeline\'s progress')
    .option('--error-topic <topic>', 'topic for malformed records (default <topic>.errors)')
    .option('--start-from <where>', 'where a partition without committed offset starts: earliest | latest')
    .option('--max-concurrent-partitions <n>', 'partition workflows running at once')
    .option('--aggregation <json>', 'aggregation spec as JSON, e.g. \'{"bucket":"hour"}\'')
    .option('--timeout <duration>', 'run timeout, e.g. 60m (default: the pipeline schedule\'s timeout, else none)')
    .option('--json', 'print only the JSON result on stdout')
    .option('--no-wait', 'start the run, print its id and link, and return')
    .action(action(run));
  batch
    .command('output')
    .description('print the records of a pipeline\'s output topic as a read_committed consumer sees them')
    .argument('<pipeline>', 'name of a batch pipeline')
    .option('--limit <n>', 'print at most this many records', '100')
    .option('--json', 'print the records as JSON')
    .action(action(output));
  batch
    .command('reset')
    .description('move a pipeline\'s consumer-group offsets and kto\'s record of them together, to replay, skip, or go on after a topic was recreated (refused while a run is in flight)')
    .argument('[pipeline]', 'name of a batch pipeline')
    .requiredOption('--to <where>', 'earliest | latest | an offset')
    .option('--partition <n...>', 'only these partitions (default: all)')
    .option('--topic <topic>', 'input topic (with --group, for a pipeline run by flags)')
    .option('--group <groupId>', 'consumer group (with --topic)')
    .option('--json', 'print the offsets before and after as JSON')
    .action(action(reset));
  return batch;
}
