import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { BatchAlreadyRunningError, findRunningBatches, temporalUiUrl } from '../temporal/batch-run';
import { declaringFiles, loadPipelines } from '../project/load';
import { createScheduleManager, pipelineOfScheduleId, type ScheduleManager } from '../temporal/schedules';
import { newTable } from './format';
import { action, cliContext, withClient } from './context';
import { UserError } from '../runtime/errors';

/** Runs `fn` with a schedule manager on a fresh Temporal connection, closed afterwards. */
async function withSchedules<T>(fn: (schedules: ScheduleManager, client: Client) => Promise<T>): Promise<T> {
  const { config } = cliContext();
  try {
    return await withClient((client) => fn(createScheduleManager({ client, taskQueue: config.temporal.taskQueue }), client));
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) {
      throw new UserError(`schedule ${err.scheduleId} does not exist.`, 'create it with `kto schedule apply`, or see the existing ones with `kto schedule list`');
    }
    throw err;
  }
}

async function apply(flags: { prune?: boolean; json?: boolean }): Promise<void> {
  const pipelines = loadPipelines();
  const files = declaringFiles(pipelines);
  if (files.length === 0) {
    throw new UserError(
      'no project here: no kto.config.ts or kto.pipelines.yaml in this folder, and KTO_CONFIG and KTO_PIPELINES_FILE are not set.',
      'run from your project folder (kto init <dir> creates one), or set KTO_CONFIG',
    );
  }
  const results = await withSchedules((s) => s.apply([...pipelines.batch, ...pipelines.ingest], { prune: flags.prune }));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ file: pipelines.file, configFile: pipelines.configFile, results })}\n`);
    return;
  }
  if (results.length === 0) process.stdout.write(`no pipeline in ${files.join(' or ')} has a schedule; nothing to apply\n`);
  for (const r of results) process.stdout.write(`${r.outcome.padEnd(9)} ${r.scheduleId}\n`);
  if (results.some((r) => r.outcome === 'orphaned')) {
    process.stdout.write('orphaned: the schedule\'s pipeline is no longer declared; `kto schedule apply --prune` deletes it\n');
  }
}

async function list(flags: { json?: boolean }): Promise<void> {
  const rows = await withSchedules((s) => s.list());
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write('no kto schedules; create them from kto.config.ts and kto.pipelines.yaml with `kto schedule apply`\n');
    return;
  }
  const table = newTable(['id', 'cron', 'paused', 'next run', 'last run']);
  for (const r of rows) {
    table.push([
      r.scheduleId,
      r.cron,
      r.paused ? `yes${r.note ? ` (${r.note})` : ''}` : 'no',
      r.paused ? '-' : (r.nextRun?.toISOString() ?? '-'),
      r.lastRun ? `${r.lastRun.status} (${r.lastRun.startedAt.toISOString()})` : 'never',
    ]);
  }
  process.stdout.write(`${table.toString()}\n`);
}

async function trigger(arg: string): Promise<void> {
  const { config } = cliContext();
  const name = pipelineOfScheduleId(arg);
  const scheduleId = await withSchedules(async (s, client) => {
    // The schedule's SKIP policy would drop the trigger silently; say so instead.
    const [running] = await findRunningBatches(client, name);
    if (running) throw new BatchAlreadyRunningError(name, running, temporalUiUrl(config, running));
    return s.trigger(arg);
  });
  process.stdout.write(`triggered ${scheduleId}: a run starts now; follow it with \`kto schedule list\` or in the Temporal UI\n`);
}


const simple = (verb: string, fn: (s: ScheduleManager, name: string) => Promise<string>) =>
  action(async (arg: string) => {
    const scheduleId = await withSchedules((s) => fn(s, arg));
    process.stdout.write(`${verb} ${scheduleId}\n`);
  });

/** Adds `kto schedule apply | list | pause | unpause | trigger | delete`. */
export function registerScheduleCommands(program: Command): Command {
  const schedule = program
    .command('schedule')
    .description('Temporal Schedules for the pipelines of kto.config.ts and kto.pipelines.yaml (one per pipeline, id kto-batch-<name> or kto-ingest-<name>)');
  schedule
    .command('apply')
    .description('create or update one schedule per pipeline with a `schedule`; reports created / updated / unchanged')
    .option('--prune', 'delete kto schedules whose pipeline is no longer in the file')
    .option('--json', 'print the results as JSON')
    .action(action(apply));
  schedule.command('list').description('show every kto schedule: cron, paused, next run, last run status').option('--json', 'print JSON').action(action(list));
  schedule.command('pause').description('stop starting runs (a running one continues)').argument('<pipeline>').action(simple('paused', (s, n) => s.pause(n)));
  schedule.command('unpause').description('start runs on the schedule again').argument('<pipeline>').action(simple('unpaused', (s, n) => s.unpause(n)));
  schedule.command('trigger').description('start one scheduled run now (refused while a run of the pipeline is in flight)').argument('<pipeline>').action(action(trigger));
  schedule.command('delete').description('delete the schedule (runs already started continue)').argument('<pipeline>').action(simple('deleted', (s, n) => s.delete(n)));
  return schedule;
}
