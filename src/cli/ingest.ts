import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Command } from 'commander';
import { temporalUiUrl } from '../temporal/batch-run';
import { loadPipelines } from '../project/load';
import { findIngestPipeline, ingestOptionsOf } from '../project/pipelines-file';
import { ingestWithDefaults, ingestWorkflowId, type IngestOptions, type IngestReport } from '../shared/ingest';
import type { ingest } from '../../workflows';
import { newTable } from './format';
import { action, cliContext, unknownPipelineError, withClient } from './context';
import { UserError } from '../runtime/errors';
import { redactUrl } from '../runtime/config';
import { ENV_NAME, hasUserinfo, userinfoRefusal } from '../ingest/credentials';

interface RunFlags {
  url?: string;
  credentialsEnv?: string;
  topic?: string;
  intervalMs?: string;
  windowMs?: string;
  json?: boolean;
}

function millis(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const v = Number(value);
  if (!Number.isInteger(v) || v < min) throw new UserError(`${flag} must be a whole number of milliseconds of at least ${min}, got "${value}".`, `e.g. ${flag} 1000`);
  return v;
}

/** The workflow input from a configured pipeline and/or flags; flags win. */
function optionsFrom(name: string | undefined, flags: RunFlags): IngestOptions {
  const pipelines = loadPipelines();
  const configured = name ? findIngestPipeline(pipelines, name) : undefined;
  if (name && !configured && !(flags.url && flags.topic)) {
    throw unknownPipelineError('ingest', name, pipelines, ', or pass --url and --topic', 'declare it with defineIngest in kto.config.ts (or under `ingest:` in kto.pipelines.yaml), or pass --url and --topic');
  }
  const configuredBase: Partial<IngestOptions> = configured ? ingestOptionsOf(configured) : name ? { pipeline: name } : {};
  // --url polls that endpoint with the built-in random-user source instead of the pipeline's own
  // source; the pipeline's credentials are not sent to it unless --credentials-env names them.
  const { source: _source, sourceOptions: _options, credentialsEnv: _credentials, ...withoutSource } = configuredBase;
  const base: Partial<IngestOptions> = flags.url ? withoutSource : configuredBase;
  const url = flags.url ?? base.url;
  const topic = flags.topic ?? base.topic;
  if ((!url && base.source === undefined) || !topic) {
    throw new UserError('ingest run needs a pipeline name from kto.config.ts or the pipelines file, or --url and --topic.', 'e.g. kto ingest run random-users, or kto ingest run --url "http://127.0.0.1:8099/api/?results=5" --topic users');
  }
  if (url && !/^https?:\/\//.test(url)) throw new UserError(`--url must be an http(s) URL, got "${redactUrl(url)}".`, 'e.g. --url "http://127.0.0.1:8099/api/?results=5"');
  if (flags.url && hasUserinfo(flags.url)) {
    const { message, fix } = userinfoRefusal(flags.url, '--credentials-env');
    throw new UserError(`--url refused: ${message}.`, fix);
  }
  const credentialsEnv = flags.credentialsEnv ?? base.credentialsEnv;
  if (flags.credentialsEnv !== undefined) {
    if (!ENV_NAME.test(flags.credentialsEnv)) {
      throw new UserError(`--credentials-env must be the name of an environment variable (letters, digits and "_", not starting with a digit), got "${flags.credentialsEnv}".`, 'e.g. --credentials-env USERS_API_CREDENTIALS');
    }
    if (!url) throw new UserError(`--credentials-env goes with a url; pipeline "${name}" polls a source module, which reads its own settings from its sourceOptions.`, 'drop --credentials-env, or pass --url too');
  }
  return {
    ...base,
    ...(url ? { url } : {}),
    ...(credentialsEnv ? { credentialsEnv } : {}),
    topic,
    intervalMs: millis(flags.intervalMs, '--interval-ms', 10) ?? base.intervalMs,
    windowMs: millis(flags.windowMs, '--window-ms', 100) ?? base.windowMs,
  };
}

function printReport(report: IngestReport): void {
  const table = newTable(['fetched', 'produced', 'skipped', 'errors', 'polls']);
  table.push([report.fetched, report.produced, report.skipped, report.errors, report.polls]);
  process.stdout.write(`${table.toString()}\n${report.produced} record(s) written to ${report.topic}, keyed by the source's keys\n`);
}

async function run(name: string | undefined, flags: RunFlags): Promise<void> {
  const { config } = cliContext();
  const options = ingestWithDefaults(optionsFrom(name, flags));
  const workflowId = ingestWorkflowId(options.pipeline);
  await withClient(async (client) => {
    const handle = await client.workflow
      .start<typeof ingest>('ingest', { workflowId, taskQueue: config.temporal.taskQueue, args: [options], workflowIdConflictPolicy: 'FAIL' })
      .catch((err: unknown) => {
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          throw new UserError(`pipeline "${options.pipeline}" already has an ingest run in flight: workflow ${workflowId} (${temporalUiUrl(config, workflowId)}).`, 'wait for it to finish (it ends with its window), then run again');
        }
        throw err;
      });
    if (!flags.json) {
      const credentials = options.credentialsEnv ? ` with the credentials in the worker's ${options.credentialsEnv}` : '';
      process.stdout.write(`ingest ${options.pipeline}: polling ${options.url ? redactUrl(options.url) : `the source of ${options.pipeline}`}${credentials} every ${options.intervalMs} ms for ${options.windowMs / 1000} s into ${options.topic}\n`);
      process.stdout.write(`workflow ${workflowId}: ${temporalUiUrl(config, workflowId)}\n`);
    }
    const result = await handle.result();
    // Runs of workers from before reports were redacted return the url as they were given it.
    const report = result.url === undefined ? result : { ...result, url: redactUrl(result.url) };
    if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else printReport(report);
  });
}

/** Adds `kto ingest run`. */
export function registerIngestCommands(program: Command): Command {
  const ingestCommand = program.command('ingest').description('poll a pipeline\'s source (or an HTTP JSON source in the random-user format) for a window and stream its records into a topic');
  ingestCommand
    .command('run')
    .description('run one ingest window now and print its report (refused while a run of the pipeline is in flight)')
    .argument('[pipeline]', 'name of an ingest pipeline of kto.config.ts or kto.pipelines.yaml')
    .option('--url <url>', 'source URL (overrides the pipeline\'s), e.g. "http://127.0.0.1:8099/api/?results=5"')
    .option('--credentials-env <name>', 'with a url: environment variable of the workers holding user:password, sent as Basic authentication (credentials never go in --url: it is stored in Temporal)')
    .option('--topic <topic>', 'topic the records go to')
    .option('--interval-ms <ms>', 'time between polls (default 1000)')
    .option('--window-ms <ms>', 'how long the run polls (default 15000)')
    .option('--json', 'print only the JSON report on stdout')
    .action(action(run));
  return ingestCommand;
}
