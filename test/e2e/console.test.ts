import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createConsoleServer } from '../../src/console/server';
import type { BatchPipelineConfig } from '../../src/project/pipelines-file';
import { batchWorkflowId, partitionWorkflowId } from '../../src/shared/batch';
import { temporalUiUrl } from '../../src/temporal/batch-run';
import { createTestPipeline, startBatch } from '../support/batch-harness';
import { uniqueTopic, waitFor } from '../support/helpers';
import { useTestEnv } from '../support/test-env';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ensureChromium } = require('../../scripts/ensure-chromium.js') as { ensureChromium: () => string };

/**
 * `kto console` on the real stack, in a headless browser: an 8-partition batch run in which
 * retention deleted one partition's unread records, so that partition's consume step fails
 * (OffsetsOutOfRange, not retried) and the other seven complete. The status page shows the
 * pipeline failing with that partition's lag; the run page draws 1 run, 8 partitions and 32
 * steps, the failed ones marked. Screenshots go to test-artifacts/ (the run's graph to
 * docs/console.png, the README's picture, with KTO_UPDATE_SCREENSHOTS=1).
 */

const ROOT = path.resolve(__dirname, '..', '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const PARTITIONS = 8;
const FAILED = 3;
/** The red and the green of src/console/html.ts, spelled out so that a change of colors is seen here. */
const FAILED_FILL = '#fbd5d5';
const COMPLETED_FILL = '#d9f2dd';

// Registered before useTestEnv's: the server and the browser close while the clients they use are still open.
afterAll(async () => {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await server?.close();
});

const env = useTestEnv('console-q');
let pipelineName: string;
let server: ReturnType<typeof createConsoleServer>;
let base: string;
let profile: string;
let browser: BrowserContext;
let page: Page;

beforeAll(async () => {
  const pipeline = await createTestPipeline(env.kafka, PARTITIONS);
  pipelineName = uniqueTopic('voltage');
  const options = { ...pipeline.options, pipeline: pipelineName };
  await pipeline.produce(PARTITIONS * 10);
  await (await startBatch(env.client, env.config, options, batchWorkflowId(pipelineName))).result();

  // Ten more records per partition, and on one partition retention takes them all before the run reads them.
  await pipeline.produce(PARTITIONS * 10);
  const admin = new Kafka({ brokers: env.config.kafka.brokers, clientId: 'kto-test-console', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.fetchTopicMetadata({ topics: [options.topic] });
    await admin.deleteTopicRecords({ topic: options.topic, partitions: [{ partition: FAILED, offset: '20' }] });
  } finally {
    await admin.disconnect();
  }
  const handle = await startBatch(env.client, env.config, options, batchWorkflowId(pipelineName));
  await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);

  const project = { batch: [{ name: pipelineName, topic: options.topic, outputTopic: options.outputTopic, groupId: options.groupId } as BatchPipelineConfig], ingest: [] };
  server = createConsoleServer({
    port: 0,
    client: env.client,
    status: { config: env.config, admin: env.kafka.admin, project },
    uiUrl: (workflowId) => temporalUiUrl(env.config, workflowId),
    logger: env.logger,
  });
  base = `http://127.0.0.1:${await server.start()}`;

  await mkdir(ARTIFACTS, { recursive: true });
  profile = await mkdtemp(path.join(os.tmpdir(), 'kto-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: ensureChromium(),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1400, height: 900 },
  });
  page = browser.pages()[0] ?? (await browser.newPage());
}, 180_000);

test('the status page shows the pipeline failing, the failed partition\'s lag as a bar, and links to the run', async () => {
  const response = await page.goto(`${base}/`);
  expect(response?.status()).toBe(200);
  await page.screenshot({ path: path.join(ARTIFACTS, 'console-status.png'), fullPage: true });
  const row = page.locator(`tr[data-pipeline="${pipelineName}"]`);
  await expect(row.locator('[data-verdict]').getAttribute('data-verdict')).resolves.toBe('failing');
  const lags = await row.locator('svg.lag g[data-partition]').evaluateAll((gs) => gs.map((g) => [g.getAttribute('data-partition'), g.getAttribute('data-lag'), g.querySelector('rect')?.getAttribute('width')]));
  expect(lags).toEqual(Array.from({ length: PARTITIONS }, (_, p) => [String(p), p === FAILED ? '10' : '0', p === FAILED ? '240' : '0']));

  await page.locator(`table.runs a[href="/runs/${encodeURIComponent(batchWorkflowId(pipelineName))}"]`).first().click();
  await page.waitForURL(`${base}/runs/**`);
  expect(await page.locator('h1').innerText()).toContain(batchWorkflowId(pipelineName));
});

test('the run page draws the run, its 8 partitions and their 32 steps, each colored by status and linked to the Temporal UI', async () => {
  const response = await page.goto(`${base}/runs/${encodeURIComponent(batchWorkflowId(pipelineName))}`);
  expect(response?.status()).toBe(200);
  const nodes = await page.locator('svg.run-graph g.node').evaluateAll((gs) =>
    gs.map((g) => ({
      id: g.getAttribute('data-id'),
      kind: g.getAttribute('data-kind'),
      status: g.getAttribute('data-status'),
      fill: g.querySelector('rect')?.getAttribute('fill'),
      href: g.parentElement?.getAttribute('href'),
      text: g.textContent,
    })),
  );
  await page.screenshot({ path: path.join(ARTIFACTS, 'console-run.png'), fullPage: true });
  // The README's picture is this graph; KTO_UPDATE_SCREENSHOTS=1 refreshes it.
  await page.locator('svg.run-graph').screenshot({ path: path.join(process.env.KTO_UPDATE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs') : ARTIFACTS, 'console.png') });

  expect(nodes.filter((n) => n.kind === 'run')).toHaveLength(1);
  expect(nodes.filter((n) => n.kind === 'partition')).toHaveLength(PARTITIONS);
  expect(nodes.filter((n) => n.kind === 'step')).toHaveLength(PARTITIONS * 4);
  const node = (id: string) => nodes.find((n) => n.id === id)!;
  expect(node(batchWorkflowId(pipelineName))).toMatchObject({ status: 'failed', fill: FAILED_FILL });
  for (let p = 0; p < PARTITIONS; p++) {
    const child = partitionWorkflowId(pipelineName, p);
    const steps = ['consume', 'commit', 'aggregate', 'produce'].map((s) => node(`${child}/${s}`));
    expect(steps.every((s) => s.href === temporalUiUrl(env.config, child))).toBe(true);
    expect(node(child).href).toBe(temporalUiUrl(env.config, child));
    if (p === FAILED) {
      expect(node(child)).toMatchObject({ status: 'failed', fill: FAILED_FILL });
      expect(steps.map((s) => s.status)).toEqual(['failed', 'not-started', 'not-started', 'not-started']);
      expect(steps[0].fill).toBe(FAILED_FILL);
    } else {
      expect(node(child)).toMatchObject({ status: 'completed', fill: COMPLETED_FILL });
      expect(steps.map((s) => s.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
      // The second run read 10 records of each partition, and the node says so.
      expect(steps[0].text).toContain('10 records');
    }
  }
  // Hovering the failed step tells why it failed.
  expect(await page.locator(`g.node[data-id="${partitionWorkflowId(pipelineName, FAILED)}/consume"] title`).textContent()).toMatch(/records 10\.\.19 .*deleted/);
});

test('a run that does not exist is a 404 page that says where to find run ids, and values are escaped', async () => {
  const response = await page.goto(`${base}/runs/${encodeURIComponent('<b>no-such-run</b>')}`);
  expect(response?.status()).toBe(404);
  const html = await response!.text();
  expect(html).toContain('&lt;b&gt;no-such-run&lt;/b&gt;');
  expect(html).not.toContain('<b>no-such-run');
  expect(html).toContain('kto runs list');
});

test('kto console serves the run page on 127.0.0.1 from the CLI and stops on SIGTERM', async () => {
  // An empty folder: no project of its own.
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'kto-console-'));
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/kto.js'), 'console', '--port', '0'], { cwd, env: { ...process.env, KTO_LOG_LEVEL: 'warn' } });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    const url = await waitFor(() => /kto console on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout)?.[1], { timeoutMs: 30_000, description: 'kto console to print its address' });
    const run = await fetch(`${url}runs/${encodeURIComponent(batchWorkflowId(pipelineName))}`, { signal: AbortSignal.timeout(20_000) });
    expect(run.status).toBe(200);
    expect((await run.text()).match(/<g class="node"/g)).toHaveLength(1 + PARTITIONS * 5);
  } finally {
    child.kill('SIGTERM');
  }
  const killed = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await exited;
  clearTimeout(killed);
  expect(code).toBe(0);
  await rm(cwd, { recursive: true, force: true });
}, 90_000);
