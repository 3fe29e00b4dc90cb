import type { WorkflowStartOptions } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { z } from 'zod';
export type { CommandBatch } from '../shared/command-batch';
import type { EmailAlertRetry, SendEmailAlertInput } from '../../workflows/send-email-alert';

/**
 * The allowlist of commands the dispatcher runs. A Kafka message names a
 * command; only this table maps it to a workflow type and task queue, so a message can never
 * choose what code runs. A project adds its own with `defineCommand` in `kto.config.ts`; kto's
 * own commands (`builtInCommands`) are defined the same way.
 */

/** A command whichever format it came in: what the decoder made of a message (src/dispatcher/decode.ts), or what a producer sends. */
export interface CommandEnvelope {
  /** Name the command registry looks up, e.g. `app.send_email_alert`. */
  command: string;
  /** Parsed params; the command's own schema validates them. */
  params: unknown;
  /** The `kto-idempotency-key` header, else the message's `idempotencyKey` field. */
  idempotencyKey?: string;
}

/**
 * Where the command came from; the default workflow id is derived from it. For a command a
 * workflow starts with `startCommand`, `topic` is the calling workflow's id and run id, `partition`
 * 0 and `offset` the call's number among that run's `startCommand` calls.
 */
export interface CommandSource {
  /** The commands topic the message was read from. */
  topic: string;
  /** Its partition. */
  partition: number;
  /** Its offset. */
  offset: bigint;
}

/** What `toArgs` and `idOf` are given about one command, once its params are valid. */
export interface CommandIdContext<P> {
  /** The canonical command name (an alias is resolved to it). */
  command: string;
  /** The params as the command's schema output them. */
  params: P;
  /** The producer's idempotency key (1 to 255 characters), if it gave one. */
  idempotencyKey?: string;
  /** Where the command came from. */
  source: CommandSource;
}

/** Start options a command may fix; never the id, type, queue or id policies (the dispatcher owns those). */
export type CommandStartOptions = Pick<
  WorkflowStartOptions,
  'retry' | 'workflowExecutionTimeout' | 'workflowRunTimeout' | 'workflowTaskTimeout' | 'memo' | 'staticSummary'
>;

/** A workflow function, or its name as the worker registers it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type WorkflowRef = string | ((...args: any[]) => Promise<unknown>);

/**
 * A command the dispatcher (and `startCommand` in workflow code) may start: the name a message
 * gives, and everything else that decides what runs. See {@link defineCommand}.
 */
export interface CommandDefinition<S extends z.ZodType = z.ZodType> {
  /** What a message's `command` field names, e.g. `app.refresh_cache`. */
  name: string;
  /** The workflow the command starts: the function itself (its name is the workflow type) or the type's name. */
  workflow: WorkflowRef;
  /** @default the configured task queue (KTO_TEMPORAL_TASK_QUEUE) */
  taskQueue?: string;
  /** Validates and normalizes the message's params; failures dead-letter the command as `invalid-params`. */
  params: S;
  /** Turns validated params (and, if needed, where the command came from) into the workflow's arguments. @default (params) => [params] */
  toArgs?: (params: z.output<S>, context: CommandIdContext<z.output<S>>) => unknown[];
  /** The workflow id's part after `<command>:` (see {@link commandWorkflowId}). @default the idempotency key when present, else `<topic>-<partition>-<offset>` */
  idOf?: (context: CommandIdContext<z.output<S>>) => string;
  /** Retry policy, timeouts, memo and summary of the started workflow. @default {} */
  startOptions?: CommandStartOptions;
  /** Other names accepted for this command, e.g. the seed's DAG id. */
  aliases?: string[];
  /**
   * Micro-batching: the dispatcher gathers commands of this name read from one partition (and,
   * with `by: 'key'`, of one Kafka key) and starts `workflow` once per batch, with a
   * `CommandBatch` (src/shared/command-batch.ts) as its one argument, when `maxSize` commands are gathered or `maxWait`
   * has passed since the first. Each command still starts once (see docs/design.md). In the
   * dispatcher's ordered mode each command starts alone, as a batch of one, in its key's order.
   */
  batch?: CommandBatching;
}

export interface CommandBatching {
  /** Commands per batch, 1 to 1,000. */
  maxSize: number;
  /** How long the first command of a batch waits for others, e.g. '2s' (at most 5 minutes). */
  maxWait: Duration;
  /** `key`: a batch per Kafka key (and partition); `command`: a batch per partition. */
  by: 'key' | 'command';
}


/**
 * Declares a command the dispatcher may start, with params typed from its schema. A message
 * names the command; the definition alone decides the workflow, its queue and its id.
 *
 * It checks nothing itself. Building the registry (the dispatcher, the worker, `kto command
 * send`) throws when a name or alias is used twice, kto's own `app.send_email_alert`,
 * `send-email-alert` and `send_email_alert` included, or when a name contains `:`.
 * @example
 * defineCommand({
 *   name: 'app.refresh_cache',
 *   workflow: refreshCache, // exported by the project's workflowsPath module
 *   params: z.object({ region: z.string() }).strict(),
 *   startOptions: { workflowExecutionTimeout: '1h' },
 * });
 */
export function defineCommand<S extends z.ZodType>(definition: CommandDefinition<S>): CommandDefinition {
  return definition as unknown as CommandDefinition;
}

/** The workflow type a command starts. */
export function workflowTypeOf(workflow: WorkflowRef): string {
  return typeof workflow === 'string' ? workflow : workflow.name;
}

export interface ResolvedCommand {
  command: string;
  workflowType: string;
  taskQueue: string;
  args: unknown[];
  workflowId: string;
  startOptions: CommandStartOptions;
  /** Set for a batched command: the dispatcher starts its workflow once per batch. */
  batch?: { maxSize: number; maxWaitMs: number; by: 'key' | 'command' };
  idempotencyKey?: string;
}

export interface CommandRejection {
  reason: 'unknown-command' | 'invalid-params';
  detail: string;
}

export function isRejection(r: ResolvedCommand | CommandRejection): r is CommandRejection {
  return 'reason' in r;
}

export interface BuiltInCommandOptions {
  /** Receives a failure alert when an alert email could not be sent (KTO_ALERT_OPERATOR_EMAIL). */
  operatorEmail?: string;
  /** Retry of the alert email. @default 2 attempts, 5 minutes apart (the seed's DAG) */
  emailRetry?: EmailAlertRetry;
}

const singleLine = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\r\n]*$/, 'must be a single line (no CR or LF)');

const alertParams = z
  .object({
    email: z.email({ error: 'must be one email address, e.g. ops@example.com' }),
    subject: singleLine(998).optional(),
    body: z.string().max(100_000).optional(),
  })
  .strict();

/** kto's own commands, defined as a project defines its commands. */
export function builtInCommands(options: BuiltInCommandOptions = {}): CommandDefinition[] {
  return [
    defineCommand({
      name: 'app.send_email_alert',
      workflow: 'sendEmailAlert',
      aliases: ['send-email-alert', 'send_email_alert'],
      params: alertParams,
      toArgs: ({ email, subject, body }): [SendEmailAlertInput] => [
        { to: email, subject, body, failureAlertTo: options.operatorEmail, retry: options.emailRetry },
      ],
      startOptions: { workflowExecutionTimeout: '1d' },
    }),
    defineCommand({
      name: 'app.send_email_digest',
      workflow: 'sendEmailDigest',
      aliases: ['send-email-digest'],
      params: alertParams,
      toArgs: ({ email, subject, body }): [SendEmailAlertInput] => [{ to: email, subject, body }],
      startOptions: { workflowExecutionTimeout: '1d' },
      batch: { maxSize: 100, maxWait: '2s', by: 'key' },
    }),
  ];
}

export interface CommandRegistryOptions {
  /** Queue for commands that name none. */
  taskQueue: string;
  /** @default builtInCommands() */
  commands?: CommandDefinition[];
}

/** Between the command name and the key in a command's workflow id. */
const COMMAND_ID_SEPARATOR = ':';

/** Temporal limits workflow ids to 1000 bytes; keys much longer than this are a producer bug. */
const MAX_IDEMPOTENCY_KEY = 255;

function paramsProblem(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; ');
}

/** kto's commands and the project's, on `taskQueue` unless a command names its own: what the dispatcher, `startCommand` and `kto command send` resolve against. */
export function projectCommandRegistry(options: { taskQueue: string; operatorEmail?: string; commands: CommandDefinition[] }) {
  return createCommandRegistry({ taskQueue: options.taskQueue, commands: [...builtInCommands({ operatorEmail: options.operatorEmail }), ...options.commands] });
}

const MAX_BATCH_SIZE = 1_000;
const MAX_BATCH_WAIT_MS = 5 * 60_000;

/** A command's batching with `maxWait` in ms; throws a fix-naming error for settings out of range. */
function batchingOf({ name, batch }: CommandDefinition): NonNullable<ResolvedCommand['batch']> {
  const { maxSize, maxWait, by } = batch!;
  let maxWaitMs: number;
  try {
    maxWaitMs = msToNumber(maxWait);
  } catch {
    maxWaitMs = NaN;
  }
  const problems = [
    ...(Number.isInteger(maxSize) && maxSize >= 1 && maxSize <= MAX_BATCH_SIZE ? [] : [`maxSize must be a whole number from 1 to ${MAX_BATCH_SIZE} (got ${String(maxSize)})`]),
    ...(maxWaitMs > 0 && maxWaitMs <= MAX_BATCH_WAIT_MS ? [] : [`maxWait must be a duration above 0 and at most 5 minutes, e.g. '2s' (got ${JSON.stringify(maxWait)})`]),
    ...(by === 'key' || by === 'command' ? [] : [`by must be 'key' or 'command' (got ${JSON.stringify(by)})`]),
  ];
  if (problems.length > 0) throw new Error(`Command "${name}" has an invalid batch: ${problems.join('; ')}. Fix: correct its defineCommand({ batch }).`);
  return { maxSize, maxWaitMs, by };
}

/** Parses params given as a JSON string (the seed's format) or as an object. */
function paramsValue(params: unknown): { ok: true; value: unknown } | { ok: false; detail: string } {
  if (typeof params !== 'string') return { ok: true, value: params ?? {} };
  try {
    return { ok: true, value: JSON.parse(params) };
  } catch (err) {
    return { ok: false, detail: `params is a string but not JSON (${(err as Error).message})` };
  }
}

/** Looks commands up by name or alias and validates their params. */
export function createCommandRegistry(options: CommandRegistryOptions) {
  const commands = options.commands ?? builtInCommands();
  const byName = new Map<string, { name: string; definition: CommandDefinition; batch?: ResolvedCommand['batch'] }>();
  for (const definition of commands) {
    const name = definition.name;
    if (name.includes(COMMAND_ID_SEPARATOR)) {
      throw new Error(`Command name "${name}" contains "${COMMAND_ID_SEPARATOR}", which separates the command from the key in workflow ids. Fix: rename the command, e.g. "${name.replaceAll(COMMAND_ID_SEPARATOR, '.')}".`);
    }
    // Checked and converted once here, not for every command record.
    const entry = { name, definition, ...(definition.batch && { batch: batchingOf(definition) }) };
    for (const alias of [name, ...(definition.aliases ?? [])]) {
      if (byName.has(alias)) throw new Error(`Command name "${alias}" is registered twice. Fix: give each command and alias a unique name.`);
      byName.set(alias, entry);
    }
  }

  return {
    /** Canonical command names. */
    names: (): string[] => commands.map((c) => c.name).sort(),

    /** Maps a decoded message onto a workflow start, or says why it must not run. */
    resolveCommand(envelope: CommandEnvelope, source: CommandSource): ResolvedCommand | CommandRejection {
      const entry = byName.get(envelope.command);
      if (!entry) {
        return {
          reason: 'unknown-command',
          detail: `"${envelope.command.slice(0, 100)}" is not a registered command (known: ${commands.map((c) => c.name).sort().join(', ')})`,
        };
      }
      const { name: command, definition, batch } = entry;
      if (envelope.idempotencyKey !== undefined && (envelope.idempotencyKey.length === 0 || envelope.idempotencyKey.length > MAX_IDEMPOTENCY_KEY)) {
        return { reason: 'invalid-params', detail: `the idempotency key must be 1 to ${MAX_IDEMPOTENCY_KEY} characters` };
      }
      const raw = paramsValue(envelope.params);
      if (!raw.ok) return { reason: 'invalid-params', detail: raw.detail };
      const parsed = definition.params.safeParse(raw.value);
      if (!parsed.success) return { reason: 'invalid-params', detail: `${command}: ${paramsProblem(parsed.error)}` };
      const context = { command, params: parsed.data, idempotencyKey: envelope.idempotencyKey, source };
      return {
        command,
        workflowType: workflowTypeOf(definition.workflow),
        taskQueue: definition.taskQueue ?? options.taskQueue,
        args: definition.toArgs ? definition.toArgs(parsed.data, context) : [parsed.data],
        workflowId: commandWorkflowId(command, definition.idOf ? definition.idOf(context) : defaultCommandKey(context)),
        startOptions: definition.startOptions ?? {},
        ...(batch && { batch }),
        ...(envelope.idempotencyKey !== undefined && { idempotencyKey: envelope.idempotencyKey }),
      };
    },
  };
}

export type CommandRegistry = ReturnType<typeof createCommandRegistry>;

/** The idempotency key when the producer gave one, else the record's coordinates: a replay maps to the same id. */
function defaultCommandKey({ idempotencyKey, source }: Pick<CommandIdContext<unknown>, 'idempotencyKey' | 'source'>): string {
  return idempotencyKey ?? `${source.topic}-${source.partition}-${source.offset}`;
}

/**
 * The workflow id of a command: `<command>:<key>`, the canonical command name (never an alias)
 * before the key (the idempotency key, the record's `<topic>-<partition>-<offset>`, or what the
 * command's `idOf` returns). The same key gives the same id, so a repeated command starts
 * nothing. A message chooses only the key, so the ids it can reach all start with a declared
 * command's name and `:` (names may not contain `:`): never another command's workflow, nor one
 * of kto's own (`kto-batch-<pipeline>`, a complete-batch run). The dispatcher, `startCommand` and
 * `kto command send` all derive ids here. Invariant 9 (docs/design.md).
 * @example commandWorkflowId('app.send_email_alert', 'disk-full-42') // 'app.send_email_alert:disk-full-42'
 */
export function commandWorkflowId(command: string, key: string): string {
  return `${command}${COMMAND_ID_SEPARATOR}${key}`;
}
