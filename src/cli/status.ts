import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { loadPipelines } from '../project/load';
import { onShutdownSignal } from '../runtime/signals';
import { UserError } from '../runtime/errors';
import { collectStatus, type PipelineStatus, type StatusReport } from '../status/collect';
import { action, cliContext, positiveInt, withClient, withKafka } from './context';
import { newTable, secs, shortTime } from './format';

const dash = (x: unknown) => (x === null || x === undefined || x === '' ? '-' : String(x));
/** The terminal's home position and a cleared screen: `--watch` draws each frame over the last. */
const CLEAR = '\x1b[H\x1b[2J';

function lastRunText(p: PipelineStatus): string {
  const run = p.lastRun;
  if (!run) return '-';
  const when = shortTime(run.startTime);
  return run.status === 'RUNNING' ? `running since ${when}` : `${run.status.toLowerCase()} ${when} (${secs(run.durationMs)})`;
}

const records = (p: PipelineStatus): string => {
  const run = p.lastFinishedRun;
  if (!run || (run.recordsIn === null && run.recordsOut === null)) return '-';
  return `${dash(run.recordsIn)} / ${dash(run.recordsOut)} / ${dash(run.malformed)}`;
};

/**
 * One line per pipeline, then the partitions: all of them for one pipeline, only those with lag
 * for the whole project (a project can have hundreds of partitions without any).
 */
export function formatStatus(report: StatusReport, single: boolean): string {
  const table = newTable(['pipeline', 'kind', 'health', 'lag', 'last run', 'in / out / malformed', 'next run'], { colAligns: ['left', 'left', 'left', 'right', 'left', 'right', 'left'] });
  for (const p of report.pipelines) {
    const health = `${p.verdict}: ${p.error ?? p.reason}`;
    const next = p.schedule ? (p.schedule.paused ? 'paused' : p.schedule.nextRun ? shortTime(p.schedule.nextRun) : '-') : 'manual';
    table.push([p.name, p.kind, health, p.lag ? p.lag.total : '-', lastRunText(p), records(p), p.kind === 'batch' || p.kind === 'ingest' ? next : '-']);
  }
  const lines = [`status at ${shortTime(report.generatedAt)}`, table.toString()];
  const partitions = newTable(['pipeline', 'group', 'topic', 'partition', 'committed', 'high watermark', 'lag'], { colAligns: ['left', 'left', 'left', 'right', 'right', 'right', 'right'] });
  let shown = 0;
  for (const p of report.pipelines) {
    for (const part of p.lag?.partitions ?? []) {
      if (!single && part.lag === 0) continue;
      partitions.push([p.name, p.lag?.groupId ?? '-', p.lag?.topic ?? '-', part.partition, dash(part.committed), part.high, part.lag]);
      shown++;
    }
  }
  if (shown > 0) lines.push(single ? 'partitions:' : 'partitions with lag:', partitions.toString());
  return lines.join('\n');
}

interface StatusFlags {
  json?: boolean;
  watch?: string | boolean;
}

async function status(pipeline: string | undefined, flags: StatusFlags): Promise<void> {
  const { config } = cliContext();
  const watchSeconds = flags.watch === undefined || flags.watch === false ? null : flags.watch === true ? 5 : positiveInt(flags.watch, '--watch', '5');
  const project = loadPipelines();
  await withKafka((kafka) =>
    withClient(async (client) => {
      const collect = () => collectStatus({ config, admin: kafka.admin, client, project }, { pipeline });
      const render = (report: StatusReport) => (flags.json ? JSON.stringify(report) : formatStatus(report, pipeline !== undefined));
      if (watchSeconds === null) {
        process.stdout.write(`${render(await collect())}\n`);
        return;
      }
      let stopped = false;
      const stop = onShutdownSignal().then(() => {
        stopped = true;
      });
      const redraw = process.stdout.isTTY && !flags.json;
      while (!stopped) {
        const frame = render(await collect());
        process.stdout.write(redraw ? `${CLEAR}${frame}\n(refreshing every ${watchSeconds}s; Ctrl-C to stop)\n` : `${frame}\n`);
        await Promise.race([sleep(watchSeconds * 1000), stop]);
      }
    }),
  ).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    if (/search attribute|invalid query|not defined/i.test(message)) {
      throw new UserError(`Temporal rejected the status query: ${message}`, 'register kto\'s search attributes on the namespace (`kto dev up` does this for you; see `kto runs list`)');
    }
    throw err;
  });
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('per pipeline and for the dispatcher: lag per partition, last run, next scheduled run, health (ok / behind / failing / paused)')
    .argument('[pipeline]', 'only this pipeline (or `dispatcher`)')
    .option('--json', 'print JSON instead of tables (one line per refresh with --watch)')
    .option('--watch [seconds]', 'refresh in place every few seconds (default 5) until Ctrl-C')
    .action(action(status));
}
