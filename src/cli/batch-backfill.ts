import type { Command } from 'commander';
import { loadPipelines } from '../project/load';
import { batchOptionsOf } from '../project/pipelines-file';
import { UserError } from '../runtime/errors';
import { checkBackfillBound, defaultBackfillId, failedPartitionsRerun, runBackfill } from '../temporal/backfill';
import { resolveBatchPipeline } from './batch';
import { formatBatchReport, runBatchCommand } from './batch-run';
import { action, cliContext, unknownPipelineError, withClient } from './context';

interface BackfillFlags {
  from: string;
  to: string;
  partitions?: string;
  id?: string;
  json?: boolean;
}

function partitionList(value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) throw new UserError(`--partitions must be partition numbers separated by commas, got "${value}".`, 'e.g. --partitions 0,3');
  return [...new Set(parts.map(Number))].sort((a, b) => a - b);
}

/** Reprocesses a time or offset range into the pipeline's output under its own group: the live group's offsets stay where they are. */
async function backfill(name: string, flags: BackfillFlags): Promise<void> {
  const configured = resolveBatchPipeline(name);
  if (!configured) throw unknownPipelineError('batch', name, loadPipelines(), '', 'declare it with defineBatchPipeline in kto.config.ts (or in kto.pipelines.yaml)');
  checkBackfillBound(flags.from, '--from');
  checkBackfillBound(flags.to, '--to');
  const partitions = flags.partitions === undefined ? undefined : partitionList(flags.partitions);
  const id = flags.id ?? defaultBackfillId(flags.from, flags.to, partitions);
  if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new UserError(`--id may hold letters, digits, '.', '_' and '-' only, got "${id}".`, 'e.g. --id fix-2026-12-01');
  const { config } = cliContext();
  const pipeline = { ...batchOptionsOf(configured), ...(partitions && { partitions }) };
  const { workflowId, uiUrl, report } = await withClient((client) => runBackfill({ client, config, input: { pipeline, id, from: flags.from, to: flags.to } }));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ workflowId, status: 'completed', report })}\n`);
    return;
  }
  process.stdout.write(`backfill ${id} (${workflowId})\n${formatBatchReport(report)}\nTemporal UI: ${uiUrl}\n`);
}

/** Starts a batch run of only the partitions that failed in a given failed run. */
async function rerun(workflowId: string, flags: { failedOnly?: boolean; json?: boolean }): Promise<void> {
  if (!flags.failedOnly) throw new UserError('kto batch rerun reruns the failed partitions of a run only, and needs --failed-only.', `kto batch rerun ${workflowId} --failed-only; for a whole run: kto batch run <pipeline>`);
  const { config } = cliContext();
  await withClient(async (client) => {
    const pipeline = await failedPartitionsRerun(client, workflowId);
    if (!flags.json) process.stdout.write(`rerunning partition(s) ${pipeline.partitions!.join(', ')} of ${workflowId}\n`);
    await runBatchCommand({ client, config, pipeline, json: flags.json });
  });
}

/** Adds `kto batch backfill | rerun` to the `batch` command. */
export function registerBackfillCommands(batch: Command): Command {
  batch
    .command('backfill')
    .description("reprocess an input range into the pipeline's output as a run of its own, without moving the pipeline's offsets; the same id lands at most once")
    .argument('<pipeline>', 'name of a batch pipeline')
    .requiredOption('--from <time|offset>', 'an ISO time (first record at or after it) or an offset (inclusive)')
    .requiredOption('--to <time|offset>', 'an ISO time (last record before it) or an offset (exclusive)')
    .option('--partitions <list>', 'only these input partitions, e.g. 0,3 (default: all)')
    .option('--id <id>', 'names the backfill (default: derived from --from, --to and --partitions)')
    .option('--json', 'print only the JSON result on stdout')
    .action(action(backfill));
  batch
    .command('rerun')
    .description('start a batch run of only the partitions that failed in a failed run (refused while it runs or when it did not fail)')
    .argument('<workflowId>', 'id of a failed batch run')
    .option('--failed-only', 'only the partitions that failed (required)')
    .option('--json', 'print only the JSON result on stdout')
    .action(action(rerun));
  return batch;
}
