import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { produceVoltageSample, VOLTAGE_DAILY_PIPELINE, VOLTAGE_DEMO_PARTITIONS } from '../demo/voltage';
import { mailDirOf } from '../devstack';
import { createMailbox } from '../devstack/mailbox';
import { createKafkaIo, type TopicRecord } from '../kafka';
import { createLogger } from '../runtime/logger';
import { batchOptionsOf } from '../project/pipelines-file';
import { connectClient } from '../temporal/connection';
import { runWorker } from '../worker';
import { resolveBatchPipeline } from './batch';
import { runBatchCommand } from './batch-run';
import { newTable } from './format';
import { jsonCommandRecord, sendCommandRecord } from '../dispatcher/records';
import { commandWorkflowId } from '../commands/registry';
import { action, cliContext, positiveInt } from './context';
import { UserError } from '../runtime/errors';
import { configuredStack } from './dev';
import { runDispatcher } from '../dispatcher/run';
import { createTopic } from './topics';

/**
 * One row per day, one column per partition. Several runs can each write a row for the same
 * day (mergeable parts); the cell merges them by count and sum.
 */
export function formatDailyMeans(records: TopicRecord[]): string {
  const cells = new Map<string, Map<number, { count: number; sum: number }>>();
  const partitions = [...new Set(records.map((r) => r.partition))].sort((a, b) => a - b);
  for (const r of records) {
    const row = JSON.parse(r.value ?? '{}') as { bucket?: string; count?: number; sum?: number };
    if (!row.bucket || !row.count) continue;
    const day = cells.get(row.bucket) ?? new Map<number, { count: number; sum: number }>();
    cells.set(row.bucket, day);
    const cell = day.get(r.partition) ?? { count: 0, sum: 0 };
    day.set(r.partition, { count: cell.count + row.count, sum: cell.sum + (row.sum ?? 0) });
  }
  const table = newTable(['day', ...partitions.map((p) => `p${p}`)]);
  for (const day of [...cells.keys()].sort()) {
    const row = cells.get(day)!;
    table.push([day, ...partitions.map((p) => (row.has(p) ? (row.get(p)!.sum / row.get(p)!.count).toFixed(2) : '-'))]);
  }
  return table.toString();
}

/** Waits for the dispatcher to start the alert workflow, then for the workflow to finish. */
async function alertDone(client: Client, workflowId: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await client.workflow.getHandle(workflowId).result();
      return;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

interface DemoFlags {
  records: string;
  seed: string;
}

/**
 * `kto demo`: the Airflow DAG's daily voltage batch end to end on the local stack.
 * Starts the stack, creates the topics, writes the sample once (a second demo finds the
 * input topic non-empty, writes nothing and the run reports "nothing-new"), runs a worker in
 * this process, runs `voltage-daily` through the same path as `kto batch run`, prints the output.
 */
async function demo(flags: DemoFlags): Promise<void> {
  const { config } = cliContext();
  const records = positiveInt(flags.records, '--records', '100000');
  const seed = Number(flags.seed);
  if (!Number.isInteger(seed)) throw new UserError(`--seed must be a whole number, got "${flags.seed}".`, 'e.g. --seed 2006');
  // Worker and client logs would drown the demo's own output; KTO_LOG_LEVEL still wins.
  const logLevel = process.env.KTO_LOG_LEVEL ? config.logLevel : 'error';
  const logger = createLogger({ level: logLevel });
  const say = (line: string) => process.stdout.write(`${line}\n`);

  say('1/6 starting the local stack (first run installs Temporal and Kafka)');
  const endpoints = await configuredStack(config, logger).up();
  say(`    Temporal ${endpoints.temporalAddress} (UI ${endpoints.temporalUiUrl}), Kafka ${endpoints.kafkaBrokers.join(',')}`);

  const pipeline = resolveBatchPipeline(VOLTAGE_DAILY_PIPELINE.name)!;
  const kafka = createKafkaIo(config.kafka, logger);
  let stopWorker!: () => void;
  const stopSignal = new Promise<void>((resolve) => (stopWorker = resolve));
  let worker: Promise<void> | undefined;
  const client = await connectClient(config.temporal);
  try {
    say(`2/6 topics: ${pipeline.topic} (${VOLTAGE_DEMO_PARTITIONS} partitions) → ${pipeline.outputTopic} (co-partitioned)`);
    await createTopic(kafka, pipeline.topic, { partitions: VOLTAGE_DEMO_PARTITIONS });
    await createTopic(kafka, pipeline.outputTopic, { like: pipeline.topic });

    const existing = (await kafka.admin.watermarks(pipeline.topic)).reduce((sum, w) => sum + (w.high - w.low), 0n);
    if (existing === 0n) {
      const started = Date.now();
      const produced = await produceVoltageSample(kafka, { topic: pipeline.topic, records, partitions: VOLTAGE_DEMO_PARTITIONS, seed });
      say(`3/6 wrote ${produced.records.toLocaleString('en-US')} voltage readings (${produced.malformed} malformed on purpose) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    } else {
      say(`3/6 ${pipeline.topic} already holds ${existing.toLocaleString('en-US')} records: not writing the sample again, so this run only picks up what is new`);
    }

    say(`4/6 running a worker in this process (task queue ${config.temporal.taskQueue}) and the ${pipeline.name} batch`);
    worker = runWorker({ config: { ...config, logLevel: logLevel as typeof config.logLevel }, logger, stopSignal });
    // A worker that fails to start must end the demo instead of leaving the run waiting forever.
    let batchDone = false;
    const workerFailed = worker.then(() => {
      if (!batchDone) throw new Error('the in-process worker stopped before the batch finished');
    });
    workerFailed.catch(() => undefined);
    await Promise.race([runBatchCommand({ client, config, pipeline: batchOptionsOf(pipeline) }), workerFailed]);
    batchDone = true;

    const output = await kafka.readTopic({ topic: pipeline.outputTopic });
    say(`5/6 output: daily mean voltage (V) per input partition, ${output.length} records of ${pipeline.outputTopic} (read_committed)`);
    say(formatDailyMeans(output));
    say(`every field (count, sum, min, max, offsets): kto batch output ${pipeline.name}`);
    say(`malformed records went to ${pipeline.errorTopic ?? `${pipeline.topic}.errors`} with the reason in a header.`);

    const alertKey = `kto-demo-alert-${Date.now()}`;
    const alertId = commandWorkflowId('app.send_email_alert', alertKey);
    say(`6/6 an alert through the command dispatcher: app.send_email_alert on ${config.dispatcher.topic} → workflow ${alertId} → SMTP sink`);
    const alert = jsonCommandRecord({
      command: 'app.send_email_alert',
      params: JSON.stringify({ email: 'ops@example.com', subject: `${pipeline.name}: ${output.length} daily means ready`, body: `kto batch output ${pipeline.name}` }),
      idempotencyKey: alertKey,
    });
    await sendCommandRecord(kafka, config.dispatcher.topic, alert);
    let stopDispatcher!: () => void;
    const dispatcher = runDispatcher({ config, logger, stopSignal: new Promise<void>((resolve) => (stopDispatcher = resolve)) });
    try {
      await Promise.race([alertDone(client, alertId), dispatcher]);
    } finally {
      stopDispatcher();
      await dispatcher;
    }
    const mail = (await createMailbox(mailDirOf(config.devstack.dir)).list()).filter((m) => m.subject.startsWith(`${pipeline.name}:`)).sort((a, b) => a.date.localeCompare(b.date)).pop();
    say(mail ? `    mail arrived: "${mail.subject}" to ${mail.to.join(', ')} (kto dev mail --show ${mail.id})` : '    the alert workflow completed; list the mail with `kto dev mail`');
    say(`    Temporal UI: ${endpoints.temporalUiUrl}/namespaces/${config.temporal.namespace}/workflows`);
    say(`Again later: kto batch run ${pipeline.name} · output: kto batch output ${pipeline.name} · schedule it: kto schedule apply`);
    say('The local stack keeps running; `kto dev down` stops it.');
  } finally {
    stopWorker();
    await worker?.catch(() => undefined);
    await client.connection.close();
    await kafka.close();
  }
}

/** Adds `kto demo`. */
export function registerDemoCommand(program: Command): Command {
  return program
    .command('demo')
    .description('run the daily voltage batch (the Airflow DAG kto replaces) end to end on the local stack')
    .option('--records <n>', 'sample records written on the first demo', '100000')
    .option('--seed <n>', 'seed of the sample data', '2006')
    .action(action(demo));
}
