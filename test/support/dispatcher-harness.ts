import type { Client } from '@temporalio/client';
import { builtInCommands, commandWorkflowId, createCommandRegistry, type CommandDefinition } from '../../src/commands/registry';
import type { KtoConfig } from '../../src/runtime/config';
import { createDispatcher, type DispatcherOptions } from '../../src/dispatcher';
import { createCommandDecoder } from '../../src/dispatcher/decode';
import type { StoredMessage } from '../../src/devstack/mailbox';
import type { KafkaIo } from '../../src/kafka';
import type { Logger } from '../../src/runtime/logger';
import { jsonCommandRecord } from '../../src/dispatcher/records';
import type { CommandEnvelope } from '../../src/commands/registry';
import { uniqueTopic, waitFor } from './helpers';

/** Seconds-level retries instead of the seed's 5 minutes, so retry tests finish quickly. */
export const FAST_EMAIL_RETRY = { maximumAttempts: 5, initialInterval: '500ms', backoffCoefficient: 1 } as const;

export function sinkUrl(): string {
  const url = process.env.KTO_TEST_SMTP_CONTROL_URL;
  if (!url) throw new Error('KTO_TEST_SMTP_CONTROL_URL is not set: run through the integration project');
  return url.replace(/\/+$/, '');
}

export async function sinkMessages(): Promise<StoredMessage[]> {
  return (await (await fetch(`${sinkUrl()}/messages`)).json()) as StoredMessage[];
}

export async function sinkRaw(id: string): Promise<string> {
  return (await fetch(`${sinkUrl()}/messages/${id}`)).text();
}

/** A dispatcher metric summed over the series whose labels include `labels` (0 when it has none). */
export async function metricValue(
  dispatcher: { metrics: { registry: { getMetricsAsJSON(): Promise<Array<{ name: string; values: Array<{ value: number; labels: Record<string, unknown> }> }>> } } },
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = (await dispatcher.metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const matching = metric?.values.filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want)) ?? [];
  return matching.reduce((sum, v) => sum + v.value, 0);
}

/** Makes the sink refuse the next `count` deliveries with `code`. */
export async function sinkFail(count: number, code: number): Promise<void> {
  const res = await fetch(`${sinkUrl()}/fail`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ count, code, message: `injected ${code}` }) });
  if (!res.ok) throw new Error(`sink /fail answered ${res.status}: ${await res.text()}`);
}

export async function sinkReset(): Promise<void> {
  await fetch(`${sinkUrl()}/reset`, { method: 'POST' });
}

export async function waitForMail(subject: string, timeoutMs = 30_000): Promise<StoredMessage> {
  return waitFor(async () => (await sinkMessages()).find((m) => m.subject === subject), { timeoutMs, description: `an email with subject "${subject}"` });
}

/** The workflow id of an `app.send_email_alert` command with this key (or record coordinates). */
export const emailWorkflowId = (key: string): string => commandWorkflowId('app.send_email_alert', key);

/** Config for one test: its own commands topic, group and dead-letter topic, on the test's task queue. */
export function dispatcherConfig(config: KtoConfig, overrides: Partial<KtoConfig['dispatcher']> = {}): KtoConfig {
  const topic = uniqueTopic('commands');
  return {
    ...config,
    dispatcher: { ...config.dispatcher, topic, groupId: `${topic}-group`, deadLetterTopic: `${topic}.dlq`, ...overrides },
  };
}

export interface HarnessDeps {
  config: KtoConfig;
  logger: Logger;
  kafka: KafkaIo;
  client: Client;
}

/** A dispatcher in this process with the built-in commands (fast email retry, an operator address) plus `extra`. */
export function startDispatcher(deps: HarnessDeps, options: Partial<DispatcherOptions> & { extra?: CommandDefinition[]; operatorEmail?: string } = {}) {
  const registry = createCommandRegistry({
    taskQueue: deps.config.temporal.taskQueue,
    commands: [...builtInCommands({ operatorEmail: options.operatorEmail, emailRetry: FAST_EMAIL_RETRY }), ...(options.extra ?? [])],
  });
  const dispatcher = createDispatcher({ ...deps, registry, decoder: createCommandDecoder({}), backoff: { initialMs: 100, maxMs: 1000 }, ...options });
  const running = dispatcher.run();
  return { dispatcher, running, stop: async () => { await dispatcher.stop(); await running; } };
}

/** Produces commands in kto's JSON envelope, as `kto command send` does. */
export async function sendCommands(kafka: KafkaIo, topic: string, messages: (CommandEnvelope & { key?: string })[]): Promise<void> {
  await kafka.produce(
    messages.map((m) => {
      const record = jsonCommandRecord(m);
      return { topic, key: m.key ?? null, value: record.value, headers: record.headers };
    }),
  );
}

export async function committedOffset(kafka: KafkaIo, groupId: string, topic: string, partition = 0): Promise<bigint | null> {
  return (await kafka.admin.committedOffsets(groupId, topic)).get(partition) ?? null;
}

/** Counts workflow executions with this id in visibility (every run, open or closed). */
export async function countWorkflows(client: Client, workflowId: string): Promise<number> {
  let n = 0;
  for await (const _ of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n++;
  return n;
}

/** The digest mails sent to `to`, as raw messages. */
export async function digestsTo(to: string): Promise<string[]> {
  const mails = (await sinkMessages()).filter((m) => m.to.includes(to));
  return Promise.all(mails.map((m) => sinkRaw(m.id)));
}

/** How often each marker appears over all of `texts`. */
export function markerCounts(texts: string[], markers: string[]): Record<string, number> {
  return Object.fromEntries(markers.map((m) => [m, texts.reduce((n, t) => n + t.split(m).length - 1, 0)]));
}
