import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KAFKA_VERSION, TEMPORAL_CLI_VERSION } from '../src/devstack';
import type { BenchRow, PartResult } from './part';

export const RESULTS_DIR = path.join(__dirname, 'results');

/** Where and on what the numbers were measured; a benchmark without this is not comparable. */
export function benchEnvironment() {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    commit: gitCommit(),
    node: process.version,
    machine: {
      platform: `${os.type()} ${os.release()} ${os.arch()}`,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      cores: cpus.length,
      memoryGiB: round(os.totalmem() / 2 ** 30, 1),
      loadAverageAtStart: os.loadavg().map((l) => round(l, 2)),
    },
    server: {
      temporal: `Temporal dev server (temporal CLI ${TEMPORAL_CLI_VERSION}, SQLite file)`,
      kafka: `Apache Kafka ${KAFKA_VERSION}, KRaft, single node`,
    },
  };
}

export type BenchEnvironment = ReturnType<typeof benchEnvironment>;

function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    // The results of earlier runs are output, not code: they do not make the measured code dirty.
    const dirty = execFileSync('git', ['status', '--porcelain', '--', '.', ':!bench/results'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

export const round = (n: number, digits = 0): number => Math.round(n * 10 ** digits) / 10 ** digits;

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export const formatInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const formatMiB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
export const formatSeconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

function mark(row: BenchRow): string {
  if (row.pass === undefined) return '';
  return row.pass ? '✅ pass' : '❌ fail';
}

export function markdownTable(rows: BenchRow[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  const lines = ['| Metric | Measured | Target | |', '|---|---:|---|---|'];
  for (const row of rows) lines.push(`| ${cell(row.metric)} | ${cell(row.measured)} | ${cell(row.target ?? '')} | ${mark(row)} |`);
  return lines.join('\n');
}

export function markdownEnvironment(env: BenchEnvironment): string {
  return [
    `Measured ${env.date} on ${env.machine.cores} cores (${env.machine.cpuModel}), ${env.machine.memoryGiB} GiB RAM, ` +
      `${env.machine.platform}, Node ${env.node}, kto ${env.commit}.`,
    `Servers: ${env.server.temporal}; ${env.server.kafka}. Load average at start: ${env.machine.loadAverageAtStart.join(', ')}.`,
  ].join('\n');
}

/** Objects with sorted keys, so a re-run diffs only where numbers changed. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** Writes `<part>.json` and `<part>.md` atomically (a killed run leaves the previous results intact). */
export function writePartResults(part: { name: string; description: string }, env: BenchEnvironment, result: PartResult): string[] {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = `${JSON.stringify(sortKeys({ part: part.name, environment: env, measurements: result.measurements, rows: result.rows }), null, 2)}\n`;
  const md = [`# kto benchmark: ${part.name}`, '', part.description, '', markdownEnvironment(env), '', markdownTable(result.rows), ''].join('\n');
  const files: string[] = [];
  for (const [ext, text] of [
    ['json', json],
    ['md', md],
  ] as const) {
    const file = path.join(RESULTS_DIR, `${part.name}.${ext}`);
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
    files.push(file);
  }
  return files;
}
