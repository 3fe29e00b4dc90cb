import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { commandWorkflowId } from '../../src/commands/registry';
import type { KtoConfig } from '../../src/runtime/config';
import { findFreePorts } from '../../src/devstack';
import { createKafkaIo, type KafkaIo } from '../../src/kafka';
import { createLogger } from '../../src/runtime/logger';
import type { RunDetails, RunRow } from '../../src/temporal/runs';
import { batchPipelineWithDefaults, batchWorkflowId, partitionWorkflowId, type BatchReport } from '../../src/shared/batch';
import { connectClient } from '../../src/temporal/connection';
import { createTestPipeline, startBatch } from '../support/batch-harness';
import { dispatcherConfig, sendCommands, startDispatcher, waitForMail } from '../support/dispatcher-harness';
import { testConfig, uniqueTopic, waitFor } from '../support/helpers';
import { runKto } from '../support/run-cli';
import { startTestWorker } from '../support/test-env';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureChromium } = require('../../scripts/ensure-chromium.js') as { ensureChromium: () => string };

/**
 * Operability on the real stack: one batch run (2 partitions) and one dispatcher-started email
 * alert, then what an operator sees of them: the worker's /metrics, `kto runs list/show`, and
 * the Temporal UI in a headless browser (page text, not pixels; screenshots in test-artifacts/).
 */

const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts');
const RECORDS = 40;

let config: KtoConfig;
let kafka: KafkaIo;
let client: Client;
let worker: ReturnType<typeof startTestWorker>;
let metricsPort: number;
let pipelineName: string;
let topic: string;
let report: BatchReport;
let emailWorkflowId: string;

beforeAll(async () => {
  const base = testConfig();
  [metricsPort] = await findFreePorts(1);
  config = { ...base, metricsPort, lagRefreshSeconds: 1, temporal: { ...base.temporal, taskQueue: uniqueTopic('ui-q') } };
  const logger = createLogger({ level: 'warn', pretty: false });
  kafka = createKafkaIo(config.kafka, logger);
  client = await connectClient(config.temporal);
  worker = startTestWorker(config, logger);

  const pipeline = await createTestPipeline(kafka, 2, 10);
  await pipeline.produce(RECORDS);
  const options = batchPipelineWithDefaults(pipeline.options);
  pipelineName = options.pipeline;
  topic = options.topic;
  const handle = await startBatch(client, config, pipeline.options, batchWorkflowId(pipelineName));
  report = (await handle.result()) as BatchReport;

  const commands = dispatcherConfig(config);
  const dispatcher = startDispatcher({ config: commands, logger, kafka, client });
  const key = uniqueTopic('ui-alert');
  emailWorkflowId = commandWorkflowId('app.send_email_alert', key);
  try {
    await sendCommands(kafka, commands.dispatcher.topic, [
      { command: 'send-email-alert', idempotencyKey: key, params: { email: 'ops@example.com', subject: `kto ui ${key}`, body: 'voltage high' } },
    ]);
    await waitForMail(`kto ui ${key}`, 60_000);
    await client.workflow.getHandle(emailWorkflowId).result();
  } finally {
    await dispatcher.stop();
  }
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await kafka?.close();
  await client?.connection.close();
});

test('the batch run counted its records and failures', () => {
  expect(report.recordsIn).toBe(RECORDS);
  expect(report.malformed).toBe(RECORDS / 10);
});

test('the worker serves /healthz and /metrics with records, lag and activity durations', async () => {
  const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
  expect(health.status).toBe(200);
  const scrape = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  // The lag gauge is the group's real lag, refreshed every second: 0 once the run committed everything.
  const lagLine = `kto_consumer_lag_records{pipeline="${pipelineName}",topic="${topic}",partition="0"} 0`;
  await waitFor(async () => (await scrape()).split('\n').includes(lagLine), { timeoutMs: 10_000 });
  const text = await scrape();
  const value = (metric: string, labels: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && l.includes(labels));
    return line === undefined ? undefined : Number(line.split(' ').pop());
  };
  expect(value('kto_records_consumed_total', `pipeline="${pipelineName}"`)).toBe(RECORDS);
  expect(value('kto_records_malformed_total', `pipeline="${pipelineName}"`)).toBe(RECORDS / 10);
  expect(value('kto_records_produced_total', `pipeline="${pipelineName}"`)).toBe(report.recordsOut);
  expect(value('kto_consumer_lag_records', `pipeline="${pipelineName}",topic="${topic}",partition="1"`)).toBe(0);
  for (const activity of ['listPartitions', 'consume', 'commit', 'aggregate', 'produce', 'sendEmail']) {
    expect(value('kto_activity_duration_seconds_count', `activity="${activity}",outcome="completed"`)).toBeGreaterThanOrEqual(1);
  }
});

test('kto runs list finds the runs by search attribute and kto runs show prints the steps', async () => {
  const listed = await runKto(['runs', 'list', '--topic', topic, '--json'], { KTO_TEMPORAL_TASK_QUEUE: config.temporal.taskQueue });
  expect(listed.stderr).toBe('');
  const rows = JSON.parse(listed.stdout) as RunRow[];
  expect(rows.map((r) => r.workflowId).sort()).toEqual([batchWorkflowId(pipelineName), partitionWorkflowId(pipelineName, 0), partitionWorkflowId(pipelineName, 1)].sort());
  expect(rows.find((r) => r.type === 'batch')).toMatchObject({ status: 'COMPLETED', records: RECORDS, pipeline: pipelineName });

  const table = await runKto(['runs', 'list', '--pipeline', pipelineName, '--type', 'partition']);
  expect(table.stdout).toContain(partitionWorkflowId(pipelineName, 1));
  expect(table.stdout).not.toContain(`${batchWorkflowId(pipelineName)} `);

  const shown = await runKto(['runs', 'show', partitionWorkflowId(pipelineName, 0), '--json']);
  const details = JSON.parse(shown.stdout) as RunDetails;
  expect(details.activities.map((a) => a.type)).toEqual(['consume', 'commit', 'aggregate', 'produce']);
  expect(details.activities.every((a) => a.status === 'completed' && a.attempts === 1)).toBe(true);
  expect(details.memo).toMatchObject({ records: RECORDS / 2 });
  expect(details.result).toMatchObject({ partition: 0, records: RECORDS / 2 });

  const email = await runKto(['runs', 'list', '--command', 'app.send_email_alert', '--json']);
  expect((JSON.parse(email.stdout) as RunRow[]).map((r) => r.workflowId)).toContain(emailWorkflowId);
  const text = await runKto(['runs', 'show', emailWorkflowId]);
  expect(text.stdout).toMatch(/sendEmailAlert .*COMPLETED/);
  expect(text.stdout).toContain('sendEmail');

  const missing = await runKto(['runs', 'show', 'no-such-run-here']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('kto runs list');
});

describe('the Temporal UI', () => {
  let profile: string;
  let browser: BrowserContext;
  let page: Page;
  const ui = () => `${process.env.KTO_TEST_TEMPORAL_UI_URL!.replace(/\/+$/, '')}/namespaces/default`;

  beforeAll(async () => {
    const executablePath = ensureChromium();
    await mkdir(ARTIFACTS, { recursive: true });
    profile = await mkdtemp(path.join(os.tmpdir(), 'kto-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1600, height: 1000 },
    });
    page = browser.pages()[0] ?? (await browser.newPage());
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  /**
   * Opens `url` and waits until the page's text contains every `expected` string (case-insensitive:
   * the UI upper-cases statuses with CSS) and shows every `labels` string as an element of its own
   * (so an activity name counts only as a history label, not inside the input or result JSON).
   */
  async function open(url: string, expected: string[], screenshot: string, labels: string[] = []): Promise<string> {
    await page.goto(url);
    const text = await waitFor(
      async () => {
        const body = (await page.locator('body').innerText()).toLowerCase();
        if (!expected.every((s) => body.includes(s.toLowerCase()))) return undefined;
        for (const label of labels) if ((await page.getByText(label, { exact: true }).count()) === 0) return undefined;
        return body;
      },
      { timeoutMs: 60_000, intervalMs: 500, description: `${url} to show ${expected.join(', ')}` },
    ).catch(async (err: unknown) => {
      await page.screenshot({ path: path.join(ARTIFACTS, `failed-${screenshot}`), fullPage: true });
      throw err;
    });
    await page.screenshot({ path: path.join(ARTIFACTS, screenshot), fullPage: true });
    return text;
  }

  test('the search-attribute query finds the parent run and its children by topic', async () => {
    const query = encodeURIComponent(`KtoTopic="${topic}"`);
    await open(
      `${ui()}/workflows?query=${query}`,
      [batchWorkflowId(pipelineName), partitionWorkflowId(pipelineName, 0), partitionWorkflowId(pipelineName, 1)],
      'ui-runs-by-topic.png',
    );
  });

  test('the parent run shows its child runs', async () => {
    const id = batchWorkflowId(pipelineName);
    const { runId } = await client.workflow.getHandle(id).describe();
    const history = await open(
      `${ui()}/workflows/${encodeURIComponent(id)}/${runId}/history`,
      [id, 'completed', 'start child workflow execution initiated', 'child workflow execution completed'],
      'ui-batch-run.png',
      ['listPartitions'],
    );
    expect(history.split('child workflow execution completed').length - 1).toBe(2);
    await open(
      `${ui()}/workflows/${encodeURIComponent(id)}/${runId}/relationships`,
      [partitionWorkflowId(pipelineName, 0), partitionWorkflowId(pipelineName, 1)],
      'ui-batch-children.png',
    );
  });

  test('a child run shows its four steps in the event history', async () => {
    const id = partitionWorkflowId(pipelineName, 0);
    const { runId } = await client.workflow.getHandle(id).describe();
    const text = await open(`${ui()}/workflows/${encodeURIComponent(id)}/${runId}/history`, [id, 'activity task completed'], 'ui-partition-history.png', [
      'consume',
      'commit',
      'aggregate',
      'produce',
    ]);
    expect(text.split('activity task completed').length - 1).toBe(4);
  });

  test('the dispatcher-started email alert run is visible with its command', async () => {
    const query = encodeURIComponent(`KtoCommand="app.send_email_alert"`);
    await open(`${ui()}/workflows?query=${query}`, [emailWorkflowId], 'ui-email-alert-list.png');
    await open(`${ui()}/workflows/${encodeURIComponent(emailWorkflowId)}`, [emailWorkflowId, 'sendEmailAlert', 'completed', 'sendEmail'], 'ui-email-alert-run.png');
  });
});
