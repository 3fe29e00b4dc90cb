import type { Client } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { BatchProgress } from '../../workflows';
import { BatchRunFailedError, startBatchRun, waitForBatchRun, type BatchRun } from '../temporal/batch-run';
import type { KtoConfig } from '../runtime/config';
import type { TopicRecord } from '../kafka';
import type { BatchPipelineOptions, BatchReport } from '../shared/batch';
import { newTable, secs } from './format';

/**
 * The one "start a batch run, show progress, print the report" path, shared by
 * `kto batch run` and `kto demo`.
 */

export interface RunBatchCommandOptions {
  client: Client;
  config: KtoConfig;
  pipeline: BatchPipelineOptions;
  runTimeout?: Duration;
  /** Print only JSON on stdout. @default false */
  json?: boolean;
  /** Wait for the run and print its report. @default true */
  wait?: boolean;
  /** @default process.stdout */
  out?: NodeJS.WritableStream;
  /** Progress goes here; a live line when it is a TTY, periodic lines otherwise. @default process.stderr */
  progressStream?: NodeJS.WriteStream;
}

const n = (x: number) => x.toLocaleString('en-US');

function progressLine(p: BatchProgress, elapsedMs: number): string {
  const failed = p.failed ? `, ${p.failed} failed` : '';
  return `  ${p.done}/${p.partitions} partitions done${failed} · ${n(p.recordsIn)} records in · ${n(p.recordsOut)} out · ${secs(elapsedMs)}`;
}

/** Live progress: one rewritten line on a TTY, else a line when something changed (at most every 5 s). */
export function createProgressPrinter(stream: NodeJS.WriteStream = process.stderr) {
  const started = Date.now();
  let last = '';
  let lastAt = 0;
  let drawn = false;
  return {
    update(p: BatchProgress): void {
      const state = `${p.done}/${p.failed}/${p.recordsIn}/${p.recordsOut}`;
      if (stream.isTTY) {
        stream.write(`\r\x1b[K${progressLine(p, Date.now() - started)}`);
        drawn = true;
      } else if (state !== last && Date.now() - lastAt >= 5000) {
        stream.write(`${progressLine(p, Date.now() - started)}\n`);
        lastAt = Date.now();
        last = state;
      }
    },
    end(): void {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}

/** The report for a person: one row per partition, totals and the time spent in each step. */
export function formatBatchReport(report: BatchReport): string {
  const table = newTable(['partition', 'status', 'from', 'to', 'records', 'output', 'malformed'], { colAligns: ['right', 'left', 'right', 'right', 'right', 'right', 'right'] });
  for (const s of report.partitionSummaries) {
    table.push([s.partition, s.status, s.from || '-', s.to || '-', n(s.records), n(s.outputRecords), n(s.malformed)]);
  }
  table.push(['total', '', '', '', n(report.recordsIn), n(report.recordsOut), n(report.malformed)]);
  const steps = Object.entries(report.stepMs)
    .map(([step, ms]) => `${step} ${secs(ms)}`)
    .join(' · ');
  return [
    `pipeline ${report.pipeline}: ${report.topic} → ${report.outputTopic}, ${report.partitions} partitions`,
    table.toString(),
    ...(report.partitionsNotListed
      ? [`${n(report.partitionsNotListed)} more partitions are counted in the total but not listed; each one's summary is the result of its child workflow kto-batch-${report.pipeline}-p<partition>`]
      : []),
    `step time summed over partitions: ${steps}`,
  ].join('\n');
}

/** Output records as a table; the scalar fields of JSON values become columns. */
export function formatOutputRecords(records: TopicRecord[]): string {
  const parsed = records.map((r) => {
    try {
      const v = JSON.parse(r.value ?? 'null') as unknown;
      return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: r.value };
    } catch {
      return { value: r.value };
    }
  });
  const scalar = (x: unknown) => x === null || ['string', 'number', 'boolean'].includes(typeof x);
  const fields = [...new Set(parsed.flatMap((v) => Object.keys(v).filter((f) => scalar(v[f]))))].filter(
    // An aggregate row's key is its bucket unless it has a group: show it once.
    (f) => f !== 'key' && !(f === 'bucket' && parsed.every((v) => v.bucket === v.key)),
  );
  const table = newTable(['partition', 'key', ...fields]);
  records.forEach((r, i) => {
    const v = parsed[i];
    const key = typeof v.key === 'string' ? v.key : (r.key ?? '');
    table.push([r.partition, key, ...fields.map((f) => (typeof v[f] === 'number' ? Number((v[f] as number).toFixed(4)) : String(v[f] ?? '')))]);
  });
  return table.toString();
}

/**
 * Starts the run and, unless `wait` is false, follows it and prints its report.
 * Returns the report (null without waiting); a failed run throws BatchRunFailedError, whose
 * JSON form has already been printed when `json` is set.
 */
export async function runBatchCommand(options: RunBatchCommandOptions): Promise<{ run: BatchRun; report: BatchReport | null }> {
  const out = options.out ?? process.stdout;
  const progressStream = options.progressStream ?? process.stderr;
  const say = (line: string) => (options.json ? progressStream : out).write(`${line}\n`);
  const run = await startBatchRun({ client: options.client, config: options.config, pipeline: options.pipeline, runTimeout: options.runTimeout });
  const ids = { workflowId: run.workflowId, runId: run.runId, uiUrl: run.uiUrl };

  if (options.wait === false) {
    if (options.json) out.write(`${JSON.stringify({ ...ids, status: 'started' })}\n`);
    else say(`started batch run ${run.workflowId} of pipeline ${run.pipeline}\n  ${run.uiUrl}`);
    return { run, report: null };
  }

  say(`batch run ${run.workflowId} of pipeline ${run.pipeline} started\n  ${run.uiUrl}`);
  const progress = createProgressPrinter(progressStream);
  let report: BatchReport;
  try {
    report = await waitForBatchRun(run, { onProgress: progress.update });
  } catch (err) {
    progress.end();
    if (options.json && err instanceof BatchRunFailedError) out.write(`${JSON.stringify({ ...ids, status: 'failed', error: err.reason })}\n`);
    throw err;
  }
  progress.end();
  if (options.json) out.write(`${JSON.stringify({ ...ids, status: 'completed', report })}\n`);
  else out.write(`${formatBatchReport(report)}\nTemporal UI: ${run.uiUrl}\n`);
  return { run, report };
}
