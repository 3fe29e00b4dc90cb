import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { commandWorkflowId } from '../../src/commands/registry';
import type { KafkaSaslEndpoint } from '../../src/devstack';
import { ENV_KEYS, parseProperties } from '../../src/runtime/config';
import type { BatchReport } from '../../src/shared/batch';
import { connectClient } from '../../src/temporal/connection';
import { voltageRecords } from '../support/batch-harness';
import { waitForMail } from '../support/dispatcher-harness';
import { testConfig, uniqueTopic } from '../support/helpers';
import { readTopic } from '../support/kafka-check';
import { runKto, type CliResult } from '../support/run-cli';
import { startTestProcess, type TestProcess } from '../support/worker-process';

/**
 * kto through the test stack's SASL_SSL listener (a CA of its own, SCRAM-SHA-512 and PLAIN users)
 * configured by nothing but a librdkafka properties file in the seed pipelines' format: the kto
 * worker and dispatcher as processes, the CLI as a user runs it. No KTO_KAFKA_* variable but
 * KTO_KAFKA_CONFIG_FILE is set, so the plaintext listener the rest of the suite uses is out of
 * reach. Refused credentials and an untrusted certificate print one line and the fix, and no
 * password reaches any output.
 */

/** As cli-unreachable.test.ts: generous for a loaded machine. */
const WITHIN_MS = 9_000;

const endpoint = JSON.parse(process.env.KTO_TEST_KAFKA_SASL ?? 'null') as KafkaSaslEndpoint | null;
const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-sasl-'));
const taskQueue = uniqueTopic('sasl-ssl');
const commandsTopic = uniqueTopic('sasl-commands');

/** The Kafka settings of a kto process: the file and nothing else. */
function fileEnv(file: string): Record<string, string | undefined> {
  const kafkaVariables = ENV_KEYS.filter((key) => key.startsWith('KTO_KAFKA_'));
  return {
    ...Object.fromEntries(kafkaVariables.map((key) => [key, undefined])),
    KTO_KAFKA_CONFIG_FILE: file,
    KTO_TEMPORAL_TASK_QUEUE: taskQueue,
    KTO_DISPATCHER_TOPIC: commandsTopic,
    KTO_DISPATCHER_GROUP: `${commandsTopic}-group`,
    KTO_DEAD_LETTER_TOPIC: `${commandsTopic}.dlq`,
  };
}

/** A properties file as the seed documents write it (bootstrap.servers, security.protocol, sasl.*), plus the CA. */
function seedFile(name: string, settings: { username: string; password: string; mechanism: string; caFile?: string }): string {
  const file = path.join(dir, `${name}.properties`);
  const lines = [
    `bootstrap.servers=${endpoint!.brokers.join(',')}`,
    'security.protocol=SASL_SSL',
    `sasl.mechanisms=${settings.mechanism}`,
    `sasl.username=${settings.username}`,
    `sasl.password=${settings.password}`,
    ...(settings.caFile ? [`ssl.ca.location=${settings.caFile}`] : []),
  ];
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

const stackUser = (mechanism: keyof KafkaSaslEndpoint['configFiles']) => {
  const props = parseProperties(readFileSync(endpoint!.configFiles[mechanism], 'utf8'));
  return { username: props['sasl.username'], password: props['sasl.password'] };
};

describe('kto on a SASL_SSL listener, configured by a seed-format properties file', () => {
  const outputs: { what: string; text: string }[] = [];
  const processes: TestProcess[] = [];
  let scram: { username: string; password: string };
  let scramFile: string;
  let client: Client;

  async function kto(args: string[], file: string, timeoutMs?: number): Promise<CliResult & { ms: number }> {
    const started = Date.now();
    const result = await runKto(args, fileEnv(file), timeoutMs);
    outputs.push({ what: `kto ${args.join(' ')}`, text: `${result.stdout}\n${result.stderr}` });
    return { ...result, ms: Date.now() - started };
  }

  beforeAll(async () => {
    if (!endpoint) throw new Error('The test stack runs no SASL_SSL listener: the integration global setup starts it with kafkaSasl: true.');
    scram = stackUser('SCRAM-SHA-512');
    scramFile = seedFile('scram', { ...scram, mechanism: 'SCRAM-SHA-512', caFile: endpoint.caFile });
    client = await connectClient(testConfig().temporal);
    expect(await kto(['topics', 'create', commandsTopic, '--partitions', '1'], scramFile)).toMatchObject({ stderr: '', code: 0 });
    const env = fileEnv(scramFile);
    processes.push(startTestProcess({ script: 'fault-worker.ts', name: 'worker', dir, env }));
    processes.push(startTestProcess({ script: 'fault-dispatcher.ts', name: 'dispatcher', dir, env }));
  });

  afterAll(async () => {
    for (const p of processes) await p.kill('SIGTERM');
    await client?.connection.close();
  });

  test('a batch run: topics made, records written, the run done by the worker and read back, all over SCRAM-SHA-512', async () => {
    const topic = uniqueTopic('sasl-batch');
    expect(await kto(['topics', 'create', topic, '--partitions', '2'], scramFile)).toMatchObject({ code: 0, stdout: `created ${topic} (2 partitions)\n` });
    expect((await kto(['topics', 'create', `${topic}.out`, '--like', topic], scramFile)).code).toBe(0);
    const lines = path.join(dir, `${topic}.jsonl`);
    writeFileSync(lines, `${voltageRecords(topic, 2, 400).map((r) => r.value).join('\n')}\n`);
    expect(await kto(['topics', 'produce', topic, lines], scramFile)).toMatchObject({ code: 0, stdout: `400 record(s) written to ${topic}\n` });

    const run = await kto(['batch', 'run', '--json', '--topic', topic, '--output-topic', `${topic}.out`, '--group', `${topic}.group`], scramFile);
    expect(run.code).toBe(0);
    const { status, report } = JSON.parse(run.stdout) as { status: string; report: BatchReport };
    expect(status).toBe('completed');
    expect(report).toMatchObject({ partitions: 2, recordsIn: 400, malformed: 0 });
    expect(report.partitionSummaries.map((s) => s.status)).toEqual(['committed', 'committed']);
    // Read back over the plaintext listener: what the worker wrote through SASL_SSL is there.
    const output = await readTopic(testConfig().kafka.brokers, `${topic}.out`);
    expect(output).toHaveLength(report.recordsOut);
    expect(output.reduce((n, r) => n + (JSON.parse(r.value!) as { count: number }).count, 0)).toBe(400);
  });

  test('a dispatcher run: a command sent over SCRAM-SHA-512 starts its workflow, whose email arrives', async () => {
    const key = randomBytes(4).toString('hex');
    const subject = `sasl ${key}`;
    const sent = await kto(['command', 'send', 'app.send_email_alert', '--params', JSON.stringify({ email: 'ops@example.com', subject }), '--idempotency-key', key], scramFile);
    expect(sent).toMatchObject({ code: 0, stdout: `sent app.send_email_alert to ${commandsTopic} (workflow id ${commandWorkflowId('app.send_email_alert', key)})\n` });
    const mail = await waitForMail(subject, 90_000);
    expect(mail.to).toEqual(['ops@example.com']);
    const handle = client.workflow.getHandle(commandWorkflowId('app.send_email_alert', key));
    await handle.result();
    const described = await handle.describe();
    expect(described).toMatchObject({ type: 'sendEmailAlert', taskQueue, status: { name: 'COMPLETED' } });
  });

  test('SASL/PLAIN with the ready-made properties file of the stack', async () => {
    const listed = await kto(['topics', 'list', '--json'], endpoint!.configFiles.PLAIN);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { topic: string }[]).map((t) => t.topic)).toContain(commandsTopic);
  });

  test('a wrong password: one line naming the user and mechanism, the fix, exit 1, within seconds', async () => {
    const wrong = `wrong-${randomBytes(6).toString('hex')}`;
    const file = seedFile('wrong', { username: scram.username, password: wrong, mechanism: 'SCRAM-SHA-512', caFile: endpoint!.caFile });
    const result = await kto(['topics', 'list'], file, 60_000);
    expect(result.stderr).toBe(
      `kto: Kafka at ${endpoint!.brokers.join(',')} refused the SASL credentials of user "${scram.username}" (SCRAM-SHA-512): ` +
        'SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512\n' +
        'fix: check KTO_KAFKA_SASL_USERNAME, KTO_KAFKA_SASL_PASSWORD and KTO_KAFKA_SASL_MECHANISM (sasl.username, sasl.password and sasl.mechanisms in KTO_KAFKA_CONFIG_FILE)\n',
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.ms).toBeLessThan(WITHIN_MS);
    // --verbose prints the stack and kafkajs' own lines: still no password.
    const verbose = await kto(['topics', 'list', '--verbose'], file, 60_000);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/\n\s+at /);
    for (const text of [result.stderr, verbose.stdout, verbose.stderr]) expect(text).not.toContain(wrong);
  });

  test('a CA that is not given: the untrusted certificate and ssl.ca.location as the fix', async () => {
    const file = seedFile('no-ca', { ...scram, mechanism: 'SCRAM-SHA-512' });
    const result = await kto(['topics', 'list'], file, 60_000);
    expect(result.stderr).toBe(
      `kto: Kafka at ${endpoint!.brokers.join(',')} presented a TLS certificate kto does not trust: self-signed certificate in certificate chain\n` +
        "fix: set ssl.ca.location in KTO_KAFKA_CONFIG_FILE (or KTO_KAFKA_SSL_CA_LOCATION) to the PEM file of the CA that signed the brokers' certificates (the local stack's is run/kafka-sasl/ca.pem in its state folder)\n",
    );
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(WITHIN_MS);
  });

  test('no password appears in any output: the CLI runs above, the worker and dispatcher logs', async () => {
    for (const p of processes) await p.kill('SIGTERM');
    const logs = processes.map((p, i) => ({ what: ['worker log', 'dispatcher log'][i], text: p.log() }));
    // The logs are those of processes that did the work, at info level, their settings included.
    expect(logs[0].text).toContain('worker starting');
    expect(logs[0].text).toContain(scram.username);
    const passwords = [scram.password, stackUser('PLAIN').password];
    const leaks = [...outputs, ...logs].filter((o) => passwords.some((p) => o.text.includes(p))).map((o) => o.what);
    expect(leaks).toEqual([]);
  });
});
