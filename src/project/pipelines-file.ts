import { parse as parseYaml } from 'yaml';
import type { Duration } from '@temporalio/common';
import { z } from 'zod';
import { aggregationSpecSchema } from '../aggregate/spec';
import type { BatchPipelineOptions } from '../shared/batch';
import type { IngestOptions } from '../shared/ingest';
import { UserError } from '../runtime/errors';
import { ENV_NAME, hasUserinfo, userinfoRefusal } from '../ingest/credentials';

/**
 * The pipelines file: every pipeline kto runs, by kind: `batch` (the daily Kafka batch the
 * Airflow DAG ran) and `ingest` (a source polled into a topic). Each kind has its own
 * top-level key, and pipeline names are unique across the whole file because they name
 * workflows and schedules.
 */

/** The file read when KTO_PIPELINES_FILE is not set (relative to the working directory). */
export const DEFAULT_PIPELINES_FILE = 'kto.pipelines.yaml';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
export const DURATION = /^\d+(ms|s|m|h|d)$/;
const CRON_MACRO = /^@(yearly|annually|monthly|weekly|daily|midnight|hourly|every \S+)$/;

/** A duration Temporal accepts (`ms` format), checked to be a plain number and unit. */
const duration = (message: string) => z.string({ error: message }).regex(DURATION, message).transform((v) => v as Extract<Duration, string>);

const topicName = (what: string) => z.string({ error: `${what} is required: a Kafka topic name` }).regex(TOPIC, `${what} must be a Kafka topic name (letters, digits, ".", "_", "-")`);

/** Overlap policies by their file names; the Temporal names are the same in upper snake case. */
export const OVERLAP_POLICIES = ['skip', 'buffer-one', 'buffer-all', 'cancel-other', 'terminate-other', 'allow-all'] as const;
export type OverlapPolicyName = (typeof OVERLAP_POLICIES)[number];

/** Defaults that differ by pipeline kind (a batch runs daily, an ingest every minute once enabled). */
interface ScheduleDefaults {
  cron: string;
  enabled: boolean;
  timeout: Extract<Duration, string>;
}

const scheduleSchemaWith = (defaults: ScheduleDefaults) =>
  z.strictObject({
    /**
     * Standard 5-field cron (UTC; prefix `CRON_TZ=Europe/Paris ` for a zone) or a macro such as `@daily`, `@hourly`.
     * @default '@daily' (batch), '* * * * *' (ingest)
     */
    cron: z
      .string({ error: 'cron must be a string such as "@daily" or "0 2 * * *"' })
      .trim()
      .refine((c) => CRON_MACRO.test(c) || c.replace(/^CRON_TZ=\S+\s+/, '').split(/\s+/).length >= 5, {
        message: 'cron must be a macro (@daily, @hourly, @weekly, ...) or 5 to 7 cron fields such as "0 2 * * *"',
      })
      .default(defaults.cron),
    /** A disabled schedule exists but is paused. @default true (batch), false (ingest) */
    enabled: z.boolean({ error: 'enabled must be true or false' }).default(defaults.enabled),
    /** Run timeout of each scheduled run (Airflow's dagrun_timeout). @default '60m' (batch), '10m' (ingest) */
    timeout: duration('timeout must be a duration such as "60m", "2h" or "90s"').default(defaults.timeout),
    /** Run the actions missed while Temporal was down (Airflow's catchup). @default false */
    catchup: z.boolean({ error: 'catchup must be true or false' }).default(false),
    /** What happens when a run is due while the previous one still runs. @default 'skip' */
    overlap: z.enum(OVERLAP_POLICIES, { error: `overlap must be one of ${OVERLAP_POLICIES.join(', ')}` }).default('skip'),
  });
const scheduleSchema = scheduleSchemaWith({ cron: '@daily', enabled: true, timeout: '60m' });

const pipelineName = z.string({ error: 'name is required' }).regex(NAME, 'name must start with a letter or digit and use only letters, digits, ".", "_", "-" (at most 100)');

/** A batch pipeline's fields, each checked on its own (the CLI checks its flags with them). */
export const batchPipelineFields = z.strictObject({
  /** Names the pipeline in workflow ids, schedule ids and transactional ids. */
  name: pipelineName,
  topic: topicName('topic'),
  outputTopic: topicName('outputTopic'),
  /** Consumer group whose committed offsets are the pipeline's progress. */
  groupId: z.string({ error: 'groupId is required: the consumer group that keeps the pipeline\'s progress' }).min(1, 'groupId must not be empty'),
  /** @default `${topic}.errors` */
  errorTopic: topicName('errorTopic').optional(),
  /** The built-in aggregation. @default daily mean of `voltage` by `datetime` */
  aggregation: aggregationSpecSchema.optional(),
  /**
   * Module of the pipeline's own processor (`defineReduce` or `defineMap` as its default export),
   * relative to the file that defines the pipeline; used instead of `aggregation`.
   */
  processor: z.string({ error: 'processor must be the path of a module' }).min(1, 'processor must be the path of a module').optional(),
  /** Given to the processor: the argument of a processor factory, and `ctx.options` (any JSON value). */
  processorOptions: z.json().optional(),
  /** Upstream pipelines: this one runs once after each run of theirs that committed new output, instead of on a clock. */
  after: z.array(z.string({ error: 'after must list pipeline names' }), { error: 'after must be a list of pipeline names' }).min(1, 'after must name at least one pipeline').optional(),
  /** @default 'earliest' */
  startFrom: z.enum(['earliest', 'latest'], { error: 'startFrom must be "earliest" or "latest"' }).optional(),
  /** The most offsets one run pins per partition; later records wait for the next run. @default no bound */
  maxRecordsPerRun: z.number({ error: 'maxRecordsPerRun must be a number' }).int().min(1, 'maxRecordsPerRun must be at least 1').optional(),
  /** How long one output transaction may stay open; at most the broker's transaction.max.timeout.ms. @default '2m' */
  transactionTimeout: duration('transactionTimeout must be a duration such as "5m"').optional(),
  /** @default 64 */
  maxConcurrentPartitions: z.number({ error: 'maxConcurrentPartitions must be a number' }).int().min(1, 'maxConcurrentPartitions must be at least 1').optional(),
  /** @default '30s' */
  workerLossTimeout: duration('workerLossTimeout must be a duration such as "30s"').optional(),
  /** Run on a Temporal Schedule; without it the pipeline runs only through `kto batch run` (or after its upstreams). */
  schedule: scheduleSchema.optional(),
  /** Who gets one alert email per failed or timed-out run. @default the worker's KTO_ALERT_EMAIL */
  onFailure: z
    .strictObject(
      {
        email: z
          .array(z.email({ error: (issue) => `onFailure.email must list email addresses; "${String(issue.input)}" is not one` }), {
            error: 'onFailure.email must be a list of email addresses, e.g. [ops@example.com]',
          })
          .min(1, 'onFailure.email must name at least one address (leave onFailure out to use KTO_ALERT_EMAIL)'),
      },
      { error: 'onFailure must be an object such as { email: [ops@example.com] }' },
    )
    .optional(),
});

export const batchPipelineSchema = batchPipelineFields.superRefine((p, ctx) => {
  if (p.processor !== undefined && p.aggregation !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['processor'], message: 'processor and aggregation exclude each other: a pipeline has one way to turn its records into output' });
  }
  if (p.processorOptions !== undefined && p.processor === undefined) {
    ctx.addIssue({ code: 'custom', path: ['processorOptions'], message: 'processorOptions configures a processor: add "processor", or remove processorOptions' });
  }
  if (p.after !== undefined && p.schedule !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['after'], message: 'a pipeline runs on a schedule or after its upstreams, not both: remove one of "schedule" and "after"' });
  }
});
export type BatchPipelineConfig = z.output<typeof batchPipelineSchema>;

const millis = (what: string, min: number) =>
  z.number({ error: `${what} must be a number of milliseconds` }).int(`${what} must be a whole number of milliseconds`).min(min, `${what} must be at least ${min} ms`);

/** The http(s) URLs with `user:password@` anywhere in a JSON value (a pipeline's sourceOptions). */
function urlsWithUserinfo(value: unknown): string[] {
  if (typeof value === 'string') return /^https?:\/\//i.test(value) && hasUserinfo(value) ? [value] : [];
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(urlsWithUserinfo);
  return [];
}

/**
 * A source polled for a window and streamed into a topic (the seed's random-user DAG): the
 * project's own `source` module, or kto's built-in random-user source for a `url`.
 */
export const ingestPipelineSchema = z
  .strictObject({
    /** Names the pipeline in workflow ids, schedule ids and the records' `kto-pipeline` header. */
    name: pipelineName,
    /**
     * Module of the pipeline's source (`defineSource` as its default export), relative to the
     * file that defines the pipeline.
     */
    source: z.string({ error: 'source must be the path of a module' }).min(1, 'source must be the path of a module').optional(),
    /** Given to the source as `ctx.options` (any JSON value). */
    sourceOptions: z.json({ error: 'sourceOptions must be a JSON value' }).optional(),
    /**
     * Instead of `source`: an endpoint in the random-user format, e.g.
     * `http://127.0.0.1:8099/api/?results=5`, polled by kto's built-in random-user source.
     */
    url: z.url({ protocol: /^https?$/, error: 'url must be an http(s) URL such as "http://127.0.0.1:8099/api/?results=5"' }).optional(),
    /**
     * With `url`: name of the worker's environment variable holding `user:password`, sent as
     * Basic authentication. Only the name goes into the workflow's input. @default none
     */
    credentialsEnv: z
      .string({ error: 'credentialsEnv must be the name of an environment variable' })
      .regex(ENV_NAME, 'credentialsEnv must be the name of an environment variable (letters, digits and "_", not starting with a digit), such as USERS_API_CREDENTIALS')
      .optional(),
    /** With `url`: follow 3xx answers; off, a redirect fails the run naming where it points. @default false */
    followRedirects: z.boolean({ error: 'followRedirects must be true or false' }).optional(),
    /** With `url`: the most bytes of one answer read; a longer answer fails the run. @default 16 MiB */
    maxResponseBytes: z
      .number({ error: 'maxResponseBytes must be a number of bytes' })
      .int('maxResponseBytes must be a whole number of bytes')
      .min(1, 'maxResponseBytes must be at least 1')
      .optional(),
    topic: topicName('topic'),
    /** @default 1000 */
    intervalMs: millis('intervalMs', 10).optional(),
    /** @default 15000 */
    windowMs: millis('windowMs', 100).optional(),
    /** Timeout of one poll. @default 5000 */
    requestTimeoutMs: millis('requestTimeoutMs', 100).optional(),
    /** Run on a Temporal Schedule (every minute, paused unless `enabled: true`); else only `kto ingest run`. */
    schedule: scheduleSchemaWith({ cron: '* * * * *', enabled: false, timeout: '10m' }).optional(),
  })
  .superRefine((p, ctx) => {
    if (p.source !== undefined && p.url !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'source and url exclude each other: a pipeline polls one source' });
    } else if (p.source === undefined && p.url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['source'], message: 'an ingest pipeline needs a source: "source" (a module exporting defineSource(...)) or "url" (an endpoint in the random-user format)' });
    }
    if (p.sourceOptions !== undefined && p.source === undefined) {
      ctx.addIssue({ code: 'custom', path: ['sourceOptions'], message: 'sourceOptions go with source; the url form takes none' });
    }
    if (p.url !== undefined && hasUserinfo(p.url)) {
      const { message, fix } = userinfoRefusal(p.url, 'credentialsEnv');
      ctx.addIssue({ code: 'custom', path: ['url'], message, params: { fix } });
    }
    const withCredentials = urlsWithUserinfo(p.sourceOptions);
    if (withCredentials.length > 0) {
      const { message } = userinfoRefusal(withCredentials[0], 'credentialsEnv');
      ctx.addIssue({
        code: 'custom',
        path: ['sourceOptions'],
        message: message.replace(/^the url/, 'sourceOptions hold the url'),
        params: { fix: 'keep the credentials in the worker\'s environment and have the source read them there (kto\'s random-user source: name the variable with credentialsEnv in sourceOptions)' },
      });
    }
    for (const field of ['credentialsEnv', 'followRedirects', 'maxResponseBytes'] as const) {
      if (p[field] !== undefined && p.source !== undefined) {
        ctx.addIssue({ code: 'custom', path: [field], message: `${field} goes with url; a source module reads its own settings from sourceOptions` });
      }
    }
  });
export type IngestPipelineConfig = z.output<typeof ingestPipelineSchema>;

const pipelinesFileSchema = z
  .strictObject({
    batch: z.array(batchPipelineSchema, { error: 'batch must be a list of pipelines' }).default([]),
    ingest: z.array(ingestPipelineSchema, { error: 'ingest must be a list of pipelines' }).default([]),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    for (const kind of ['batch', 'ingest'] as const) {
      file[kind].forEach((p, i) => {
        if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: [kind, i, 'name'], message: `name "${p.name}" is used twice; names must be unique across the file` });
        seen.add(p.name);
      });
    }
  });
export type PipelinesFile = z.output<typeof pipelinesFileSchema>;

export class PipelinesFileError extends UserError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid project file ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, 'each problem above names its fix; every field is described in docs/api.md');
    this.name = 'PipelinesFileError';
  }
}

/** Names the place of an issue: `batch[0] (voltage-daily).schedule.cron`. */
function where(input: unknown, issuePath: PropertyKey[]): string {
  if (issuePath.length === 0) return '(file)';
  const [kind, index, ...rest] = issuePath;
  if (typeof index !== 'number') return issuePath.map(String).join('.');
  const entry = (input as Record<string, unknown[]> | undefined)?.[kind as string]?.[index] as { name?: unknown } | undefined;
  const name = typeof entry?.name === 'string' ? ` (${entry.name})` : '';
  return `${String(kind)}[${index}]${name}${rest.length ? `.${rest.map(String).join('.')}` : ''}`;
}

function fixFor(issue: z.core.$ZodIssue): string {
  if (issue.code === 'custom' && typeof issue.params?.fix === 'string') return issue.params.fix;
  if (issue.code === 'unrecognized_keys') return `remove or correct ${issue.keys.map((k) => `"${k}"`).join(', ')} (the known fields are listed in docs/api.md)`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'add it';
  return 'correct the value';
}

/**
 * Validates the parsed contents of a pipelines file and fills schedule defaults.
 * @throws PipelinesFileError naming the file, the pipeline, the field and the fix.
 */
export function parsePipelines(input: unknown, file = DEFAULT_PIPELINES_FILE): PipelinesFile {
  const result = pipelinesFileSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new PipelinesFileError(
    file,
    result.error.issues.map((issue) => {
      const message = issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}` : issue.message;
      return `${where(input, issue.path)}: ${message}. Fix: ${fixFor(issue)}`;
    }),
  );
}

/** Parses YAML or JSON text (JSON is YAML, but `.json` files get JSON's clearer errors). */
export function parsePipelinesText(text: string, file: string): PipelinesFile {
  let data: unknown;
  try {
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new PipelinesFileError(file, [`not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}. Fix: correct the syntax`]);
  }
  return parsePipelines(data, file);
}

/** `o` without its undefined fields: workflow inputs and schedule hashes stay free of `"x": undefined`. */
export function withoutUndefined<T extends object>(o: T): T {
  for (const key of Object.keys(o) as (keyof T)[]) if (o[key] === undefined) delete o[key];
  return o;
}

/** The workflow input of a configured batch pipeline. */
export function batchOptionsOf({ name, schedule: _schedule, after: _after, processor, ...rest }: BatchPipelineConfig): BatchPipelineOptions {
  return withoutUndefined<BatchPipelineOptions>({ pipeline: name, ...rest, processor: processor === undefined ? undefined : name });
}

/** The workflow input of a configured ingest pipeline; a `source` is named by the pipeline, as a batch `processor` is. */
export function ingestOptionsOf({ name, schedule: _schedule, source, ...rest }: IngestPipelineConfig): IngestOptions {
  return withoutUndefined<IngestOptions>({ pipeline: name, ...rest, source: source === undefined ? undefined : name });
}

/** Finds a batch pipeline by name. */
export function findBatchPipeline(pipelines: PipelinesFile, name: string): BatchPipelineConfig | undefined {
  return pipelines.batch.find((p) => p.name === name);
}

/** Finds an ingest pipeline by name. */
export function findIngestPipeline(pipelines: PipelinesFile, name: string): IngestPipelineConfig | undefined {
  return pipelines.ingest.find((p) => p.name === name);
}
