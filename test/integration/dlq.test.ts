import { spawn } from 'node:child_process';
import path from 'node:path';
import { commandWorkflowId, createCommandRegistry } from '../../src/commands/registry';
import { DLQ_HEADERS, type StartedCommand } from '../../src/dispatcher';
import { jsonCommandRecord } from '../../src/dispatcher/records';
import type { KtoConfig } from '../../src/runtime/config';
import { countWorkflows, dispatcherConfig, startDispatcher } from '../support/dispatcher-harness';
import { uniqueTopic, waitFor } from '../support/helpers';
import { readTopic } from '../support/kafka-check';
import { runKto } from '../support/run-cli';
import { useTestEnv } from '../support/test-env';

/**
 * Dead letters and `kto topics tail` on the real stack, through the CLI as a person runs it.
 * Commands are dead-lettered by a dispatcher that does not know them yet, the dispatcher is
 * "fixed" (restarted with them registered), and `kto dlq replay` runs twice: each dead letter
 * starts one workflow. No worker polls the queue: a start is what counts, and the started
 * workflows are terminated at the end.
 */
const env = useTestEnv('dlq', { worker: false });
let config: KtoConfig;
let cliEnv: Record<string, string>;
const started: StartedCommand[] = [];
const toTerminate = new Set<string>();

interface Listed {
  ref: string;
  partition: number;
  offset: string;
  reason: string;
  command: string | null;
  source: { topic: string; partition: number; offset: string };
}

async function kto(...args: string[]) {
  const result = await runKto(args, cliEnv);
  if (result.code !== 0) throw new Error(`kto ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

const watermarks = async (topic: string) => (await env.kafka.admin.watermarks(topic)).map((w) => w.high.toString()).join(',');

beforeAll(() => {
  config = dispatcherConfig(env.config);
  cliEnv = { KTO_DISPATCHER_TOPIC: config.dispatcher.topic, KTO_DEAD_LETTER_TOPIC: config.dispatcher.deadLetterTopic };
});

afterAll(async () => {
  await Promise.all([...toTerminate].map((id) => env.client.workflow.getHandle(id).terminate('dlq test done').catch(() => undefined)));
});

describe('kto dlq', () => {
  test('dead letters are listed, shown, dry-run checked, and replayed twice after a fix into one workflow each', async () => {
    const { topic, deadLetterTopic } = config.dispatcher;
    const deps = { ...env, config };
    const key = uniqueTopic('keep');
    const alert = (email: string, idempotencyKey?: string) => jsonCommandRecord({ command: 'app.send_email_alert', params: { email }, idempotencyKey });
    await env.kafka.admin.ensureTopics([
      { topic, partitions: 3 },
      { topic: deadLetterTopic, partitions: 1 },
    ]);
    await env.kafka.produce([
      { topic, partition: 1, key: null, ...alert('a@example.com') },
      { topic, partition: 2, key: 'k-b', ...alert('b@example.com', key) },
      { topic, partition: 0, key: null, value: Buffer.from('not json'), headers: {} },
    ]);

    // The dispatcher does not know the command yet: both alerts are dead-lettered as unknown-command.
    const unaware = startDispatcher(deps, { registry: createCommandRegistry({ taskQueue: env.config.temporal.taskQueue, commands: [] }) });
    await waitFor(async () => (await watermarks(deadLetterTopic)) === '3', { timeoutMs: 20_000, description: 'three dead letters' });
    await unaware.stop();

    const all = JSON.parse(await kto('dlq', 'list', '--json')) as Listed[];
    expect(all.map((d) => [d.reason, d.command, d.source.partition])).toEqual(
      expect.arrayContaining([
        ['unknown-command', 'app.send_email_alert', 1],
        ['unknown-command', 'app.send_email_alert', 2],
        ['undecodable', null, 0],
      ]),
    );
    expect(all).toHaveLength(3);
    const a = all.find((d) => d.source.partition === 1)!;
    const b = all.find((d) => d.source.partition === 2)!;
    const filtered = JSON.parse(await kto('dlq', 'list', '--reason', 'unknown-command', '--partition', '1', '--json')) as Listed[];
    expect(filtered.map((d) => d.ref)).toEqual([a.ref]);
    const byTime = JSON.parse(await kto('dlq', 'list', '--command', 'app.send_email_alert', '--since', new Date(Date.now() + 60_000).toISOString(), '--json')) as Listed[];
    expect(byTime).toEqual([]);

    const shown = JSON.parse(await kto('dlq', 'show', a.ref, '--json')) as { headers: Record<string, string>; body: { format: string; value: { params: { email: string } } } };
    expect(shown.headers).toMatchObject({ [DLQ_HEADERS.reason]: 'unknown-command', [DLQ_HEADERS.topic]: topic, [DLQ_HEADERS.partition]: '1', [DLQ_HEADERS.offset]: '0' });
    expect(shown.body).toMatchObject({ format: 'json', value: { params: { email: 'a@example.com' } } });

    // The CLI's registry (the project's, with kto's commands) knows the command: a dry run says it would pass, and writes nothing.
    const idOfA = commandWorkflowId('app.send_email_alert', `${deadLetterTopic}-${a.partition}-${a.offset}`);
    const idOfB = commandWorkflowId('app.send_email_alert', key);
    const before = await watermarks(topic);
    const planned = JSON.parse(await kto('dlq', 'replay', '--reason', 'unknown-command', '--dry-run', '--json')) as { ref: string; verdict: string; workflowId: string }[];
    expect(planned.map((o) => [o.ref, o.verdict, o.workflowId]).sort()).toEqual([[a.ref, 'would-replay', idOfA], [b.ref, 'would-replay', idOfB]].sort());
    expect(await watermarks(topic)).toBe(before);

    // Fixed: the dispatcher now knows the command. The same selection is replayed twice.
    const fixed = startDispatcher(deps, { afterStartHook: async (c) => void started.push(c) });
    try {
      await kto('dlq', 'replay', '--reason', 'unknown-command');
      await kto('dlq', 'replay', '--reason', 'unknown-command');
      await waitFor(() => started.length >= 4, { timeoutMs: 20_000, description: 'the dispatcher to handle the four replayed records' });
    } finally {
      await fixed.stop();
    }
    for (const id of [idOfA, idOfB]) toTerminate.add(id);
    // Two dead letters, each replayed twice: two workflows started, two duplicates.
    expect(started.filter((s) => s.outcome === 'started')).toHaveLength(2);
    const outcomes = (id: string) => started.filter((s) => s.workflowId === id).map((s) => s.outcome).sort();
    expect(outcomes(idOfA)).toEqual(['duplicate', 'started']);
    expect(outcomes(idOfB)).toEqual(['duplicate', 'started']);
    expect(started).toHaveLength(4);
    expect(await waitFor(() => countWorkflows(env.client, idOfA))).toBe(1);
    expect(await waitFor(() => countWorkflows(env.client, idOfB))).toBe(1);

    // Each replayed record names its dead letter and the command's first place in the commands topic.
    const replayed = (await readTopic(config.kafka.brokers, topic)).filter((r) => r.headers['kto-replay-dlq-offset'] === a.offset);
    expect(replayed).toHaveLength(2);
    for (const r of replayed) {
      expect(r.headers).toMatchObject({
        'kto-idempotency-key': `${deadLetterTopic}-${a.partition}-${a.offset}`,
        'kto-replay-dlq-topic': deadLetterTopic,
        'kto-replay-dlq-partition': String(a.partition),
        'kto-replay-source-topic': topic,
        'kto-replay-source-partition': '1',
        'kto-replay-source-offset': '0',
      });
      expect(Object.keys(r.headers).filter((h) => h.startsWith('kto-dlq-'))).toEqual([]);
    }
  }, 45_000);
});

describe('kto topics tail', () => {
  const topic = uniqueTopic('tail');
  const scanGroups = async () => {
    const admin = env.kafka.client.admin();
    await admin.connect();
    try {
      return (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.includes(topic));
    } finally {
      await admin.disconnect();
    }
  };

  test('prints a transactional topic\'s committed records only, decoded, with key, headers and place; joins no lasting group', async () => {
    await env.kafka.admin.ensureTopics([{ topic, partitions: 1 }]);
    const producer = env.kafka.client.producer({ transactionalId: `${topic}-tx`, idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const write = async (values: object[], outcome: 'commit' | 'abort') => {
      const txn = await producer.transaction();
      await txn.send({ topic, messages: values.map((v) => ({ key: 'k', value: JSON.stringify(v), headers: { origin: 'test' } })) });
      await (outcome === 'commit' ? txn.commit() : txn.abort());
    };
    try {
      await write([{ n: 1 }, { n: 2 }], 'commit'); // offsets 0, 1; marker at 2
      await write([{ n: 'aborted' }], 'abort'); // 3; marker at 4
      await write([{ n: 3 }], 'commit'); // 5; marker at 6
    } finally {
      await producer.disconnect();
    }

    const lines = (await kto('topics', 'tail', topic, '--json')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.offset, l.format, l.value])).toEqual([
      ['0', 'json', { n: 1 }],
      ['1', 'json', { n: 2 }],
      ['5', 'json', { n: 3 }],
    ]);
    expect(lines[0]).toMatchObject({ topic, partition: 0, key: 'k', headers: { origin: 'test' } });
    expect(Date.parse(lines[0].timestamp as string)).toBeGreaterThan(Date.now() - 120_000);

    const later = (await kto('topics', 'tail', topic, '--from', '2', '--partition', '0', '--limit', '1', '--json')).trim().split('\n');
    expect(later.map((l) => (JSON.parse(l) as { offset: string }).offset)).toEqual(['5']);

    expect(await scanGroups()).toEqual([]);
  }, 30_000);

  test('--follow prints records committed after it started, until Ctrl-C, and then leaves no group behind', async () => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', '..', 'bin/kto.js'), 'topics', 'tail', topic, '--follow', '--json'], {
      env: { ...process.env, KTO_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => out.includes('"n":3'), { timeoutMs: 15_000, description: 'tail --follow to print the records already there' });
      await env.kafka.produce([{ topic, key: 'k', value: JSON.stringify({ n: 'new' }) }]);
      await waitFor(() => out.includes('"n":"new"'), { timeoutMs: 15_000, description: 'tail --follow to print a record written after it started' });
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(await scanGroups()).toEqual([]);
  }, 30_000);
});
