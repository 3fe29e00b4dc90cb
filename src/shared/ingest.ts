/**
 * The contract between the ingest workflow and its activity. Pure types and helpers:
 * workflows import this file, so it must not touch Node or I/O. No records cross it,
 * only counts (records stay in Kafka).
 */

/** A JSON value: what a workflow input may carry. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * One ingest run: where the records come from (`source` or `url`), where they go, and for how
 * long it polls.
 */
export interface IngestOptions {
  /**
   * Name of the registered pipeline whose source module (`defineSource`) is polled. Each worker
   * resolves it in its own project config, so no file path travels in the workflow.
   */
  source?: string;
  /** Given to the source as `ctx.options`. */
  sourceOptions?: JsonValue;
  /**
   * Instead of `source`: an endpoint in the random-user format, polled by kto's built-in
   * random-user source, e.g. `http://127.0.0.1:8099/api/?results=5`.
   */
  url?: string;
  /**
   * With `url`: name of an environment variable of the worker holding `user:password`, sent as
   * Basic authentication (like an Airflow connection kept in the worker's environment). Only the
   * name travels in the workflow; the worker reads the value when the run starts polling, and a
   * variable that is unset or empty fails the run. A `url` carrying `user:password@` itself is
   * refused: the workflow's input is stored in Temporal's history and shown in its UI.
   * @default none: no credentials sent
   */
  credentialsEnv?: string;
  /**
   * With `url`: follow 3xx answers. Off, a redirect fails the run with the status and where it
   * points (a moved endpoint is re-configured, not chased with the url's credentials). A
   * `source` module reads its own `sourceOptions` instead. @default false
   */
  followRedirects?: boolean;
  /** With `url`: the most bytes of one answer read; a longer answer fails the run. @default 16 MiB */
  maxResponseBytes?: number;
  /** Topic the records go to, with the source's keys. */
  topic: string;
  /**
   * Names the run in workflow ids, search attributes and logs.
   * @default `ingest.${topic}`
   */
  pipeline?: string;
  /** Time between two polls (a failed poll waits longer: backoff). @default 1000 */
  intervalMs?: number;
  /** How long the run polls; the seed DAG's loop ran 15 s. @default 15000 */
  windowMs?: number;
  /** Timeout of one poll (the source's `fetch`, one HTTP request for the url form). @default 5000 */
  requestTimeoutMs?: number;
}

/** Fields that belong to one kind of source; the source fills its own defaults. */
type SourceFields = 'source' | 'sourceOptions' | 'url' | 'credentialsEnv' | 'followRedirects' | 'maxResponseBytes';
export type IngestPipeline = Required<Omit<IngestOptions, SourceFields>> & Pick<IngestOptions, SourceFields>;

/** Fills every default of an ingest run in one place. */
export function ingestWithDefaults(options: IngestOptions): IngestPipeline {
  return {
    ...(options.source !== undefined && { source: options.source }),
    ...(options.sourceOptions !== undefined && { sourceOptions: options.sourceOptions }),
    ...(options.url !== undefined && { url: options.url }),
    ...(options.credentialsEnv !== undefined && { credentialsEnv: options.credentialsEnv }),
    ...(options.followRedirects !== undefined && { followRedirects: options.followRedirects }),
    ...(options.maxResponseBytes !== undefined && { maxResponseBytes: options.maxResponseBytes }),
    topic: options.topic,
    pipeline: options.pipeline ?? `ingest.${options.topic}`,
    intervalMs: options.intervalMs ?? 1_000,
    windowMs: options.windowMs ?? 15_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 5_000,
  };
}

export const ingestWorkflowId = (pipeline: string): string => `kto-ingest-${pipeline}`;

export interface PollInput extends IngestPipeline {
  /**
   * End of the window (epoch ms), fixed by the workflow: a retried attempt polls only what is
   * left of the original window instead of starting a new one.
   */
  until: number;
}

/** Counts of one window; a retried attempt continues the counts of the one before (heartbeat details). */
export interface PollCounts {
  /** Records the source returned (including the skipped ones among them). */
  fetched: number;
  /** Records written to the topic (a retried attempt may write a key again: at-least-once by key). */
  produced: number;
  /**
   * Malformed responses (the url form: not JSON, no `results` list) plus records whose shape or
   * key failed: logged and skipped.
   */
  skipped: number;
  /** Failed polls (the source threw or timed out; the url form: 5xx, 408/429, connection errors); retried with backoff inside the window. */
  errors: number;
  /** Polls made. */
  polls: number;
}

export interface IngestReport extends PollCounts {
  pipeline: string;
  /** The pipeline whose source was polled, when the run names one. */
  source?: string;
  /** The random-user endpoint polled, when the run gives one (redacted, as every URL kto reports). */
  url?: string;
  topic: string;
  windowMs: number;
  intervalMs: number;
}
