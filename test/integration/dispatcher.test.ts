import { Client, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { msToTs, optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { commandWorkflowId } from '../../src/commands/registry';
import { batchTopics, COMPLETE_BATCH_COMMAND, createCompleteBatchConsumer } from '../../src/complete-batch';
import type { KtoConfig } from '../../src/runtime/config';
import { DLQ_HEADERS, TRUNCATED_VALUE_BYTES } from '../../src/dispatcher';
import { jsonCommandRecord } from '../../src/dispatcher/records';
import { createMetricsServer } from '../../src/runtime/metrics';
import { batchWorkflowId } from '../../src/shared/batch';
import {
  committedOffset,
  countWorkflows,
  dispatcherConfig,
  emailWorkflowId,
  metricValue,
  sendCommands,
  sinkFail,
  sinkMessages,
  sinkRaw,
  sinkReset,
  startDispatcher,
  waitForMail,
} from '../support/dispatcher-harness';
import { uniqueTopic, waitFor } from '../support/helpers';
import { useTestEnv } from '../support/test-env';

const env = useTestEnv('dispatcher-q');

afterEach(() => sinkReset());

/** A per-test config whose commands topic exists with `partitions` before the dispatcher starts. */
async function setup(overrides: Partial<KtoConfig['dispatcher']> = {}, partitions = 1): Promise<KtoConfig> {
  const config = dispatcherConfig(env.config, overrides);
  await env.kafka.admin.ensureTopics([{ topic: config.dispatcher.topic, partitions }]);
  return config;
}


test('a JSON command starts sendEmailAlert and the email arrives with its to, subject and body; offset committed after the start', async () => {
  const config = await setup();
  const { topic, groupId } = config.dispatcher;
  const d = startDispatcher({ ...env, config });
  const metricsServer = createMetricsServer({ port: 0, host: '127.0.0.1', registry: d.dispatcher.metrics.registry, logger: env.logger, healthy: d.dispatcher.healthy });
  const port = await metricsServer.start();
  try {
    const subject = `disk full ${topic}`;
    // The seed's format: params as a JSON string.
    await sendCommands(env.kafka, topic, [{ command: 'app.send_email_alert', params: JSON.stringify({ email: 'ops@example.com', subject, body: 'disk /var is 97% full' }) }]);

    const mail = await waitForMail(subject);
    expect(mail.to).toEqual(['ops@example.com']);
    expect(await sinkRaw(mail.id)).toContain('disk /var is 97% full');
    const result: unknown = await env.client.workflow.getHandle(emailWorkflowId(`${topic}-0-0`)).result();
    expect(result).toMatchObject({ accepted: ['ops@example.com'] });
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 1n, { description: 'offset 1 committed' });

    const scrape = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(scrape).toContain('kto_commands_consumed_total 1');
    expect(scrape).toContain('kto_commands_started_total{command="app.send_email_alert"} 1');
    expect(scrape).toMatch(/kto_command_start_latency_seconds_count 1/);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  } finally {
    await d.stop();
    await metricsServer.close();
  }
});

test('SMTP 4xx twice: the email arrives after retries and the history shows attempt 3', async () => {
  const config = await setup();
  const { topic } = config.dispatcher;
  const d = startDispatcher({ ...env, config });
  try {
    await sinkFail(2, 451);
    const subject = `retried ${topic}`;
    await sendCommands(env.kafka, topic, [{ command: 'send-email-alert', params: { email: 'ops@example.com', subject }, idempotencyKey: `retry-${topic}` }]);
    await waitForMail(subject);
    const handle = env.client.workflow.getHandle(emailWorkflowId(`retry-${topic}`));
    await handle.result();
    const history = await handle.fetchHistory();
    const started = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
    expect(started).toHaveLength(1);
    expect(started[0].activityTaskStartedEventAttributes!.attempt).toBeGreaterThanOrEqual(3);
  } finally {
    await d.stop();
  }
});

test('SMTP 5xx: no retry, the workflow fails and the operator gets a failure alert', async () => {
  const config = await setup();
  const { topic } = config.dispatcher;
  const operator = `oncall-${Date.now()}@example.com`;
  const d = startDispatcher({ ...env, config }, { operatorEmail: operator });
  try {
    await sinkFail(1, 550);
    const subject = `refused ${topic}`;
    await sendCommands(env.kafka, topic, [{ command: 'app.send_email_alert', params: { email: 'nobody@example.com', subject }, idempotencyKey: `refused-${topic}` }]);
    const handle = env.client.workflow.getHandle(emailWorkflowId(`refused-${topic}`));
    await waitFor(async () => (await handle.describe()).status.name !== 'RUNNING', { timeoutMs: 30_000, description: 'the workflow to close' });
    const err = await handle.result().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(String((err as WorkflowFailedError).cause?.message)).toMatch(/550/);

    const history = await handle.fetchHistory();
    const attempts = (history.events ?? []).flatMap((e) => (e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt] : []));
    // One attempt for the refused email, one for the operator alert: no retry of the 5xx.
    expect(attempts).toEqual([1, 1]);
    const alert = (await sinkMessages()).filter((m) => m.to.includes(operator));
    expect(alert).toHaveLength(1);
    expect(alert[0].subject).toContain('nobody@example.com');
    expect(await sinkRaw(alert[0].id)).toContain(`refused-${topic}`);
    expect((await sinkMessages()).some((m) => m.subject === subject)).toBe(false);
  } finally {
    await d.stop();
  }
});

test('each bad record lands in the dead-letter topic with its reason, and a valid command after them still starts', async () => {
  const config = await setup({ maxBytes: 4096 });
  const { topic, groupId, deadLetterTopic } = config.dispatcher;
  const d = startDispatcher({ ...env, config });
  try {
    await env.kafka.produce([
      { topic, key: 'k1', value: JSON.stringify({ command: 'app.drop_database', params: {} }) },
      { topic, key: 'k2', value: JSON.stringify({ command: 'app.send_email_alert', params: { email: 'not-an-address' } }) },
      { topic, key: 'k3', value: Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x13]) },
      { topic, key: 'k4', value: JSON.stringify({ command: 'app.send_email_alert', params: { email: 'ops@example.com', body: 'x'.repeat(5000) } }) },
    ]);
    const subject = `after dead letters ${topic}`;
    await sendCommands(env.kafka, topic, [{ command: 'app.send_email_alert', params: { email: 'ops@example.com', subject } }]);

    await waitForMail(subject);
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 5n, { description: 'all five offsets committed' });
    // Dead letters are written concurrently, so their order in the dead-letter topic is not the source order.
    const dead = (await env.kafka.readTopic({ topic: deadLetterTopic })).sort((a, b) => Number(a.headers[DLQ_HEADERS.offset]) - Number(b.headers[DLQ_HEADERS.offset]));
    expect(dead.map((r) => [r.key, r.headers[DLQ_HEADERS.reason], r.headers[DLQ_HEADERS.offset]])).toEqual([
      ['k1', 'unknown-command', '0'],
      ['k2', 'invalid-params', '1'],
      ['k3', 'undecodable', '2'],
      ['k4', 'oversized', '3'],
    ]);
    for (const r of dead) {
      expect(r.headers[DLQ_HEADERS.topic]).toBe(topic);
      expect(r.headers[DLQ_HEADERS.partition]).toBe('0');
      expect(r.headers[DLQ_HEADERS.error].length).toBeGreaterThan(0);
    }
    expect(dead[0].headers[DLQ_HEADERS.error]).toContain('app.drop_database');
    expect(dead[3].value).toContain('x'.repeat(5000));
    expect(await countWorkflows(env.client, emailWorkflowId(`${topic}-0-4`))).toBe(1);
    for (const reason of ['unknown-command', 'invalid-params', 'undecodable', 'oversized']) {
      expect(await metricValue(d.dispatcher, 'kto_commands_dead_lettered_total', { reason })).toBe(1);
    }
  } finally {
    await d.stop();
  }
});

test('a repeated idempotency key starts one workflow and sends one email', async () => {
  const config = await setup();
  const { topic, groupId } = config.dispatcher;
  const d = startDispatcher({ ...env, config });
  try {
    const subject = `once ${topic}`;
    const command = { command: 'app.send_email_alert', params: { email: 'ops@example.com', subject }, idempotencyKey: `once-${topic}` };
    await sendCommands(env.kafka, topic, [command, command]);
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 2n, { description: 'both offsets committed' });
    await env.client.workflow.getHandle(emailWorkflowId(`once-${topic}`)).result();
    // Also after the first run completed: a completed id is not run again.
    await sendCommands(env.kafka, topic, [command]);
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 3n, { description: 'third offset committed' });

    expect(await countWorkflows(env.client, emailWorkflowId(`once-${topic}`))).toBe(1);
    expect(await metricValue(d.dispatcher, 'kto_commands_duplicate_total')).toBe(2);
    expect((await sinkMessages()).filter((m) => m.subject === subject)).toHaveLength(1);
  } finally {
    await d.stop();
  }
});

test('ordered mode runs the commands of one key one after another, different keys in parallel', async () => {
  const config = await setup({ ordered: true, maxInFlight: 64 }, 2);
  const { topic } = config.dispatcher;
  const d = startDispatcher({ ...env, config });
  try {
    const keys = ['alpha', 'beta', 'gamma'];
    const messages = [];
    for (let i = 0; i < 5; i++) {
      for (const key of keys) {
        messages.push({ key, command: 'app.send_email_alert', params: { email: `${key}@example.com`, subject: `${topic} ${key} ${i}` }, idempotencyKey: `${topic}-${key}-${i}` });
      }
    }
    // A batched command (the digest) runs alone in ordered mode: a batch of one each, in its key's order.
    for (let i = 0; i < 3; i++) messages.push({ key: 'delta', command: 'app.send_email_digest', params: { email: 'delta@example.com', subject: `${topic} delta ${i}` }, idempotencyKey: `${topic}-delta-${i}` });
    await sendCommands(env.kafka, topic, messages);
    await waitFor(async () => (await sinkMessages()).filter((m) => m.subject.startsWith(topic)).length === 18, { timeoutMs: 60_000, description: '18 emails' });
    const digests = [];
    for await (const w of env.client.workflow.list({ query: `WorkflowType = 'sendEmailDigest'` })) {
      if (w.workflowId.startsWith(`app.send_email_digest:batch-${topic}-`)) digests.push({ offsets: w.memo?.ktoBatchOffsets, start: w.startTime.getTime(), close: w.closeTime?.getTime() ?? Infinity });
    }
    expect(digests).toHaveLength(3);
    expect(digests.every((d) => typeof d.offsets === 'string' && !d.offsets.includes(','))).toBe(true);
    digests.sort((a, b) => Number(a.offsets) - Number(b.offsets));
    for (let i = 1; i < digests.length; i++) expect(digests[i].start).toBeGreaterThanOrEqual(digests[i - 1].close);
    // Each a batch workflow of one: counted as batched, as in a batch of many.
    expect(await metricValue(d.dispatcher, 'kto_commands_batched_total', { command: 'app.send_email_digest' })).toBe(3);

    const spans = new Map<string, { start: number; close: number }[]>();
    for (const key of keys) {
      const list = [];
      for (let i = 0; i < 5; i++) {
        const handle = env.client.workflow.getHandle(emailWorkflowId(`${topic}-${key}-${i}`));
        await handle.result();
        const info = await handle.describe();
        list.push({ start: info.startTime.getTime(), close: info.closeTime!.getTime() });
      }
      spans.set(key, list);
    }
    for (const list of spans.values()) {
      for (let i = 1; i < list.length; i++) expect(list[i].start).toBeGreaterThanOrEqual(list[i - 1].close);
    }
    // Keys are independent: some workflows of different keys ran at the same time.
    const all = [...spans.values()].flat();
    const overlaps = all.some((a) => all.some((b) => a !== b && b.start < a.close && a.start < b.close));
    expect(overlaps).toBe(true);
  } finally {
    await d.stop();
  }
});

test('Temporal unavailable: the dispatcher backs off and retries the same start, committing nothing until it is acknowledged', async () => {
  const config = await setup();
  const { topic, groupId } = config.dispatcher;
  const calls: string[] = [];
  let available = false;
  const flaky = {
    options: env.client.options,
    workflowService: env.client.workflowService,
    workflow: {
      async start(_type: string, options: { workflowId: string }) {
        calls.push(options.workflowId);
        if (!available) throw Object.assign(new Error('14 UNAVAILABLE: connection refused'), { code: 14 });
        return env.client.workflow.getHandle(options.workflowId);
      },
    },
  } as unknown as Client;
  const d = startDispatcher({ ...env, config, client: flaky });
  try {
    await sendCommands(env.kafka, topic, [{ command: 'app.send_email_alert', params: { email: 'ops@example.com' } }]);
    await waitFor(() => calls.length >= 3, { description: 'three failed start attempts' });
    expect(await committedOffset(env.kafka, groupId, topic)).toBeNull();
    available = true;
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 1n, { description: 'the commit after the start succeeded' });
    expect(new Set(calls)).toEqual(new Set([emailWorkflowId(`${topic}-0-0`)]));
    expect(await metricValue(d.dispatcher, 'kto_commands_started_total', { command: 'app.send_email_alert' })).toBe(1);
  } finally {
    await d.stop();
  }
});

test('commands keyed like a complete-batch run and a batch run take neither id: the complete batch still runs', async () => {
  const config = await setup();
  const { topic, groupId } = config.dispatcher;
  const stream = batchTopics('test.kto', uniqueTopic('squat'));
  await env.kafka.admin.ensureTopics([stream.data, stream.event, stream.output, stream.error].map((t) => ({ topic: t, partitions: 1 })));
  const batchRun = commandWorkflowId(COMPLETE_BATCH_COMMAND, `${stream.event}-0-0`);
  const pipelineRun = batchWorkflowId(uniqueTopic('pipeline'));
  // The run's coordinates, the run's id, a batch pipeline's id: a producer may send any of them as the key.
  const keys = [`${stream.event}-0-0`, batchRun, pipelineRun];
  const d = startDispatcher({ ...env, config });
  try {
    await sendCommands(env.kafka, topic, keys.map((key) => ({ command: 'app.send_email_alert', params: { email: 'ops@example.com', subject: `squat ${key}` }, idempotencyKey: key })));
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 3n, { description: 'the three commands handled' });
  } finally {
    await d.stop();
  }
  for (const key of keys) expect((await env.client.workflow.getHandle(emailWorkflowId(key)).describe()).type).toBe('sendEmailAlert');

  const voltages = [201, 202, 203];
  await env.kafka.produce(voltages.map((voltage, i) => ({ topic: stream.data, partition: 0, key: 'E', value: JSON.stringify({ eventId: 'E', id: i, offset: i, payload: { datetime: '01/12/2020 10:00:00', voltage } }) })));
  await env.kafka.produce([{ topic: stream.event, partition: 0, key: 'E', value: JSON.stringify({ eventId: 'E', capacity: 3, sourceDescriptor: { topic: stream.data, partition: 0, offset: 0 } }) }]);
  const consumer = createCompleteBatchConsumer({ ...env, eventTopic: stream.event, outputTopic: stream.output, errorTopic: stream.error, pollIntervalMs: 300 });
  const running = consumer.run();
  try {
    const run = env.client.workflow.getHandle(batchRun);
    await waitFor(async () => ((await run.describe().catch(() => undefined))?.type === 'completeBatch' ? true : undefined), { timeoutMs: 30_000, description: 'the completeBatch run' });
    expect(await run.result()).toMatchObject({ status: 'processed', kept: 3 });
  } finally {
    await consumer.stop();
    await running;
  }
  await expect(env.client.workflow.getHandle(pipelineRun).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
});

test('a 2 MB command on a topic that allows 4 MB: a truncated copy goes to the dead-letter topic with the reason and the original size, and the partition goes on', async () => {
  const config = dispatcherConfig(env.config);
  const { topic, groupId, deadLetterTopic } = config.dispatcher;
  await env.kafka.admin.ensureTopics([{ topic, partitions: 1, config: { 'max.message.bytes': String(4 * 1024 * 1024) } }]);
  const d = startDispatcher({ ...env, config });
  try {
    const big = JSON.stringify({ command: 'app.send_email_alert', params: { email: 'ops@example.com', body: 'x'.repeat(2 * 1024 * 1024) } });
    await env.kafka.produce([{ topic, key: 'big', value: big }]);
    const subject = `after the big one ${topic}`;
    await sendCommands(env.kafka, topic, [{ command: 'app.send_email_alert', params: { email: 'ops@example.com', subject } }]);

    await waitForMail(subject);
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 2n, { description: 'both offsets committed' });
    const dead = await env.kafka.readTopic({ topic: deadLetterTopic });
    expect(dead).toHaveLength(1);
    expect(dead[0].key).toBe('big');
    expect(dead[0].headers).toMatchObject({
      [DLQ_HEADERS.reason]: 'oversized',
      [DLQ_HEADERS.topic]: topic,
      [DLQ_HEADERS.partition]: '0',
      [DLQ_HEADERS.offset]: '0',
      [DLQ_HEADERS.originalSize]: String(big.length),
    });
    expect(dead[0].value).toBe(big.slice(0, TRUNCATED_VALUE_BYTES));
    expect(await metricValue(d.dispatcher, 'kto_commands_dead_lettered_total', { reason: 'oversized' })).toBe(1);
  } finally {
    await d.stop();
  }
});

test('a namespace without the KtoCommand search attribute: /healthz answers 503 naming the partition, offset and reason, nothing is committed, and the command starts once the attribute exists', async () => {
  const namespace = uniqueTopic('kto-no-attributes');
  await env.client.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  const client = new Client({ connection: env.client.connection, namespace });
  await waitFor(() => client.workflowService.describeNamespace({ namespace }), { description: 'the new namespace' });
  const config = await setup();
  const { topic, groupId } = config.dispatcher;
  const d = startDispatcher({ ...env, config, client });
  const server = createMetricsServer({ port: 0, host: '127.0.0.1', registry: d.dispatcher.metrics.registry, logger: env.logger, healthy: d.dispatcher.healthy, problems: d.dispatcher.problems });
  const port = await server.start();
  const health = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    return { status: res.status, text: await res.text() };
  };
  try {
    await sendCommands(env.kafka, topic, [{ command: 'app.send_email_alert', params: { email: 'ops@example.com' } }]);
    const unhealthy = await waitFor(async () => {
      const h = await health();
      return h.status === 503 && h.text.includes('KtoCommand') ? h.text : undefined;
    }, { timeoutMs: 30_000, description: '/healthz to answer 503 with the missing search attribute' });
    expect(unhealthy).toMatch(/^unhealthy\npartition 0, offset 0: starting the workflow failed, and retrying will not fix it: .*KtoCommand/);
    expect(await committedOffset(env.kafka, groupId, topic)).toBeNull();

    await env.client.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: { KtoCommand: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD },
    });
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 1n, { timeoutMs: 60_000, description: 'the start once the attribute exists' });
    expect(await health()).toEqual({ status: 200, text: 'ok\n' });
    expect((await client.workflow.getHandle(emailWorkflowId(`${topic}-0-0`)).describe()).type).toBe('sendEmailAlert');
  } finally {
    await d.stop();
    await server.close();
  }
});

test('a group whose offsets are gone starts at the first command younger than the namespace retention: an older one Temporal forgot does not run again, a new one runs', async () => {
  const config = await setup();
  const { topic, groupId } = config.dispatcher;
  const { namespace } = env.config.temporal;
  const retentionMs = optionalTsToMs((await env.client.workflowService.describeNamespace({ namespace })).config?.workflowExecutionRetentionTtl);
  expect(retentionMs).toBeGreaterThan(0);
  // A command from before the retention: CreateTime is the producer's to set.
  const oldSubject = `old ${topic}`;
  const old = jsonCommandRecord({ command: 'app.send_email_alert', params: { email: 'ops@example.com', subject: oldSubject } });
  const producer = env.kafka.client.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: [{ value: old.value, headers: old.headers, timestamp: String(Date.now() - retentionMs! - 3_600_000) }] });
  await producer.disconnect();
  const oldId = emailWorkflowId(`${topic}-0-0`);

  // It ran back then (told to start at the earliest record) ...
  const first = startDispatcher({ ...env, config }, { from: 'earliest' });
  try {
    await waitForMail(oldSubject);
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 1n, { description: 'offset 1 committed' });
  } finally {
    await first.stop();
  }
  // ... and since, Temporal's retention removed its workflow and the broker's the group's offsets.
  await env.client.workflow.getHandle(oldId).result();
  await env.client.workflowService.deleteWorkflowExecution({ namespace, workflowExecution: { workflowId: oldId } });
  await waitFor(async () => ((await env.client.workflow.getHandle(oldId).describe().then(() => false, (err: unknown) => err instanceof WorkflowNotFoundError)) || undefined), {
    timeoutMs: 90_000,
    intervalMs: 1_000,
    description: 'the old workflow deleted',
  });
  await env.kafka.admin.deleteGroup(groupId);
  expect(await committedOffset(env.kafka, groupId, topic)).toBeNull();

  const restarted = startDispatcher({ ...env, config });
  try {
    const newSubject = `new ${topic}`;
    await sendCommands(env.kafka, topic, [{ command: 'app.send_email_alert', params: { email: 'ops@example.com', subject: newSubject } }]);
    await waitForMail(newSubject);
    await waitFor(async () => (await committedOffset(env.kafka, groupId, topic)) === 2n, { description: 'both offsets committed' });
    expect((await sinkMessages()).filter((m) => m.subject === oldSubject)).toHaveLength(1);
    await expect(env.client.workflow.getHandle(oldId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect(await metricValue(restarted.dispatcher, 'kto_commands_started_total', { command: 'app.send_email_alert' })).toBe(1);
    expect(await metricValue(restarted.dispatcher, 'kto_commands_skipped_total')).toBe(1);
  } finally {
    await restarted.stop();
  }
});
