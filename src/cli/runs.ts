import { WorkflowNotFoundError } from '@temporalio/client';
import { Option, type Command } from 'commander';
import { temporalUiUrl } from '../temporal/batch-run';
import { listRuns, RUN_STATUSES, showRun, type RunDetails, type RunFilter, type RunRow } from '../temporal/runs';
import { newTable, secs, shortTime } from './format';
import { action, cliContext, positiveInt, withClient } from './context';
import { UserError } from '../runtime/errors';

const dash = (x: unknown) => (x === null || x === undefined || x === '' ? '-' : String(x));

/** Visibility rejects queries on search attributes the namespace does not know. */
function explainVisibility(err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  if (/search attribute|invalid query|not defined/i.test(message)) {
    throw new UserError(
      `Temporal rejected the runs query: ${message}`,
      'register kto\'s search attributes on the namespace (`temporal operator search-attribute create --name KtoPipeline --type Keyword`, and KtoTopic, KtoCommand: Keyword, KtoPartition, KtoRecords: Int); `kto dev up` does this for you',
    );
  }
  throw err;
}

export function formatRuns(rows: RunRow[]): string {
  const table = newTable(['workflow id', 'type', 'status', 'start', 'duration', 'records'], { colAligns: ['left', 'left', 'left', 'left', 'right', 'right'] });
  for (const r of rows) table.push([r.workflowId, r.type, r.status, shortTime(r.startTime), r.durationMs === null ? 'running' : secs(r.durationMs), dash(r.records)]);
  return table.toString();
}

export function formatRunDetails(run: RunDetails, uiUrl: string): string {
  const lines = [
    `${run.type} ${run.workflowId} (run ${run.runId}): ${run.status}`,
    `  started ${run.startTime}${run.closeTime ? `, closed ${run.closeTime} after ${secs(run.durationMs)}` : ''}`,
    `  ${uiUrl}`,
  ];
  const attrs = Object.entries({ pipeline: run.pipeline, topic: run.topic, partition: run.partition, records: run.records, command: run.command }).filter(([, v]) => v !== null);
  if (attrs.length) lines.push(`search attributes: ${attrs.map(([k, v]) => `${k}=${String(v)}`).join(' · ')}`);
  if (Object.keys(run.memo).length) lines.push(`memo: ${JSON.stringify(run.memo)}`);
  if (run.activities.length) {
    const table = newTable(['#', 'activity', 'status', 'attempts', 'duration', 'failure'], { colAligns: ['right', 'left', 'left', 'right', 'right', 'left'] });
    run.activities.forEach((a, i) => table.push([i + 1, a.type, a.status, a.attempts, secs(a.durationMs), dash(a.failure)]));
    lines.push('activities:', table.toString());
  }
  if (run.children.length) lines.push('child runs:', ...run.children.map((c) => `  ${c.workflowId} (${c.type}): ${c.status}`));
  if (run.failure) lines.push(`failure: ${run.failure}`);
  else if (run.result !== null) lines.push(`result: ${JSON.stringify(run.result)}`);
  return lines.join('\n');
}

async function list(flags: RunFilter & { limit: string; json?: boolean }): Promise<void> {
  const limit = positiveInt(flags.limit, '--limit', '20');
  const filter: RunFilter = { pipeline: flags.pipeline, topic: flags.topic, status: flags.status, type: flags.type, command: flags.command };
  const rows = await withClient((client) => listRuns(client, filter, limit).catch(explainVisibility));
  if (flags.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  else if (rows.length === 0) process.stdout.write('no runs match; drop a filter or check KTO_TEMPORAL_ADDRESS / KTO_TEMPORAL_NAMESPACE\n');
  else process.stdout.write(`${formatRuns(rows)}\n`);
}

async function show(workflowId: string, flags: { json?: boolean }): Promise<void> {
  const { config } = cliContext();
  const run = await withClient((client) =>
    showRun(client, workflowId).catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) {
        throw new UserError(`no run with workflow id "${workflowId}" in namespace ${config.temporal.namespace}.`, 'find the id with `kto runs list`');
      }
      throw err;
    }),
  );
  const uiUrl = temporalUiUrl(config, workflowId);
  if (flags.json) process.stdout.write(`${JSON.stringify({ ...run, uiUrl })}\n`);
  else process.stdout.write(`${formatRunDetails(run, uiUrl)}\n`);
}

export function registerRunsCommands(program: Command): void {
  const runs = program.command('runs').description('find kto runs in Temporal and see what each step did');
  runs
    .command('list')
    .description('list runs, newest first, filtered by kto\'s search attributes')
    .option('--pipeline <name>', 'only runs of this pipeline (KtoPipeline)')
    .option('--topic <topic>', 'only runs reading this input topic (KtoTopic)')
    .addOption(new Option('--status <status>', 'only runs in this state').choices(RUN_STATUSES))
    .option('--type <workflowType>', 'only this workflow type: batch, partition, sendEmailAlert, ...')
    .option('--command <name>', 'only runs the dispatcher started for this command (KtoCommand)')
    .option('--limit <n>', 'at most this many runs', '20')
    .option('--json', 'print JSON instead of a table')
    .action(action(list));
  runs
    .command('show')
    .description('a run\'s activities in order (attempts, durations), child runs, memo and result or failure')
    .argument('<workflowId>')
    .option('--json', 'print JSON instead of text')
    .action(action(show));
}
