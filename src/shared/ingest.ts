/**
 * The contract between the ingest workflow and its activity. Pure types and helpers:
 * workflows import this file, so it must not touch Node or I/O. No records cross it,
 * only counts (records stay in Kafka).
 */

export interface IngestOptions {
  /** JSON endpoint in the random-user format, e.g. `http://127.0.0.1:8099/api/?results=5`. */
  url: string;
  /** Topic the shaped records go to, keyed by their id. */
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
  /** Timeout of one HTTP request. @default 5000 */
  requestTimeoutMs?: number;
}

export type IngestPipeline = Required<IngestOptions>;

/** Fills every default of an ingest run in one place. */
export function ingestWithDefaults(options: IngestOptions): IngestPipeline {
  return {
    url: options.url,
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
  /** Source records received in well-formed responses (including malformed records among them). */
  fetched: number;
  /** Records written to the topic (a retried attempt may write a key again: at-least-once by key). */
  produced: number;
  /** Malformed responses (not JSON, no `results` list) plus malformed records in them: logged and skipped. */
  skipped: number;
  /** Failed requests: 5xx, 408/429, timeouts, connection errors; retried with backoff inside the window. */
  errors: number;
  /** Requests sent. */
  polls: number;
}

export interface IngestReport extends PollCounts {
  pipeline: string;
  url: string;
  topic: string;
  windowMs: number;
  intervalMs: number;
}
