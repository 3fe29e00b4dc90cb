import path from 'node:path';
import { loadConfig } from '../src/runtime/config';
import { endpointEnv } from '../src/devstack';
import { createKafkaIo } from '../src/kafka';
import { createLogger } from '../src/runtime/logger';
import { connectClient } from '../src/temporal/connection';
import { batchPart } from './batch';
import { dispatcherPart } from './dispatcher';
import { partitionsPart } from './partitions';
import type { BenchContext, BenchPart, BenchRow } from './part';
import { benchEnvironment, markdownEnvironment, markdownTable, writePartResults } from './report';
import { startBenchStack, type BenchStack } from './stack';
import { stopAllWorkers } from './worker-process';

/**
 * `npm run bench [-- <part>...]`: starts a private stack, runs the named benchmark parts (all
 * when none is named) against it, writes `bench/results/<part>.{json,md}` and prints the table.
 */
const PARTS: BenchPart[] = [batchPart, partitionsPart, dispatcherPart];

const progress = (line: string) => void process.stdout.write(`  ${line}\n`);

function selectParts(args: string[]): BenchPart[] {
  if (args.length === 0) return PARTS;
  const unknown = args.filter((a) => !PARTS.some((p) => p.name === a));
  if (unknown.length > 0) {
    throw new Error(`unknown benchmark part ${unknown.join(', ')}; the parts are: ${PARTS.map((p) => p.name).join(', ')}`);
  }
  return PARTS.filter((p) => args.includes(p.name));
}

/** The stack's endpoints as the env vars a kto process reads; other KTO_* settings of the caller are dropped. */
function childEnv(stack: BenchStack): Record<string, string> {
  const inherited = Object.entries(process.env).filter(([k, v]) => v !== undefined && !k.startsWith('KTO_')) as [string, string][];
  return {
    ...Object.fromEntries(inherited),
    ...endpointEnv(stack.dir, stack.endpoints),
  };
}

async function main(): Promise<void> {
  const parts = selectParts(process.argv.slice(2));
  const environment = benchEnvironment();
  process.stdout.write(`kto bench: ${parts.map((p) => p.name).join(', ')}\n`);
  const stack = await startBenchStack(progress);
  let outcome: 'success' | 'failure' = 'failure';
  const interrupted = (signal: NodeJS.Signals) => {
    process.stdout.write(`\n  ${signal}: stopping workers and the stack…\n`);
    void stopAllWorkers()
      .then(() => stack.down('failure'))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  const env = childEnv(stack);
  const config = loadConfig(env);
  const logger = createLogger({ level: 'warn', pretty: false });
  const kafka = createKafkaIo(config.kafka, logger);
  const temporal = await connectClient(config.temporal);
  const ctx: BenchContext = { config, env, kafka, temporal, dir: stack.dir, progress };
  const tables: { name: string; rows: BenchRow[] }[] = [];
  try {
    for (const part of parts) {
      process.stdout.write(`\n[${part.name}] ${part.description}\n`);
      const result = await part.run(ctx);
      const files = writePartResults(part, environment, result);
      tables.push({ name: part.name, rows: result.rows });
      process.stdout.write(`  wrote ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}\n`);
    }
    outcome = 'success';
  } finally {
    await stopAllWorkers();
    await kafka.close().catch(() => undefined);
    await temporal.connection.close().catch(() => undefined);
    await stack.down(outcome);
    if (outcome === 'failure') process.stdout.write(`  logs kept in ${stack.dir}\n`);
  }
  process.stdout.write(`\n${markdownEnvironment(environment)}\n`);
  for (const t of tables) process.stdout.write(`\n### ${t.name}\n\n${markdownTable(t.rows)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`\nkto bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
