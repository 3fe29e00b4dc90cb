import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { backoffDelay } from '../src/runtime/backoff';
import type { IngestSource, SourceContext } from '../src/ingest/define';
import { isKtoError, KtoError } from '../src/runtime/errors';
import { loadSource } from '../src/ingest/load';
import { randomUserSource } from '../src/ingest/random-user';
import type { KafkaIo } from '../src/kafka';
import type { Logger } from '../src/runtime/logger';
import { OUTPUT_HEADERS } from '../src/shared/batch';
import type { PollCounts, PollInput } from '../src/shared/ingest';
import { redactUrlsIn } from '../src/runtime/config';
import { withHeartbeat } from './heartbeat';

export interface IngestSourceActivityDeps {
  kafka: KafkaIo;
  logger: Logger;
  /** The project's source modules by pipeline name (absolute paths on this worker). @default none */
  sources?: Record<string, string>;
}

/** Backoff after failed polls never waits longer than this. */
const MAX_BACKOFF_MS = 10_000;
/** Partitions of a topic the ingest creates itself (an existing topic is used as it is). */
const NEW_TOPIC_PARTITIONS = 3;

type PollOutcome = 'ok' | 'error';
type KafkaRecord = { topic: string; key: string | null; value: string; headers: Record<string, string> };
type RecordResult = { ok: true; record: KafkaRecord } | { ok: false; reason: string };

/** Errors are known by name, so that one thrown by another copy of kto (a source's own dependency) counts. */
const isNamed = (err: unknown, name: string): err is Error => err instanceof Error && err.name === name;
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The reason a record is skipped: a RecordError's message as it is, else `<step>-error: <message>`. */
const reasonOf = (step: 'shape' | 'key', err: unknown) => (isNamed(err, 'RecordError') ? err.message : `${step}-error: ${messageOf(err)}`);

/** `work`'s result, or the signal's reason once it aborts: a source that ignores its signal cannot hold the window. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** The source a run polls and the options it gets: the pipeline's module, or the built-in random-user source for a `url`. */
function sourceOf(input: PollInput, sources: Record<string, string>): { source: IngestSource; options: unknown } {
  if (input.source === undefined) {
    if (input.url === undefined) throw new KtoError('the ingest run names no source. Fix: give it a source (a pipeline declared with one) or a url', { type: 'InvalidSource' });
    const { url, credentialsEnv, followRedirects, maxResponseBytes } = input;
    const options = { url, ...(credentialsEnv !== undefined && { credentialsEnv }), ...(followRedirects !== undefined && { followRedirects }), ...(maxResponseBytes !== undefined && { maxResponseBytes }) };
    return { source: randomUserSource as IngestSource, options };
  }
  const file = sources[input.source];
  if (file === undefined) {
    throw new KtoError(
      `this worker has no source for pipeline "${input.source}". Fix: start the worker in the project folder holding the kto.config.ts that declares it (or set KTO_CONFIG)`,
      { type: 'SourceNotFound' },
    );
  }
  return { source: loadSource(file), options: input.sourceOptions };
}

/** One fetched record as a Kafka record, or why it is skipped. */
function toKafkaRecord(source: IngestSource, item: unknown, ctx: SourceContext): RecordResult {
  let value: unknown;
  let key: unknown;
  try {
    value = source.shape(item, ctx);
  } catch (err) {
    return { ok: false, reason: reasonOf('shape', err) };
  }
  try {
    key = source.key(value, ctx);
  } catch (err) {
    return { ok: false, reason: reasonOf('key', err) };
  }
  if (key !== null && typeof key !== 'string') return { ok: false, reason: `invalid-key: key returned ${key === undefined ? 'undefined' : typeof key}, not a string or null` };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return { ok: false, reason: `invalid-value: ${messageOf(err)}` };
  }
  if (json === undefined) return { ok: false, reason: `invalid-value: a ${typeof value} is not a JSON value` };
  return { ok: true, record: { topic: ctx.topic, key, value: json, headers: { [OUTPUT_HEADERS.pipeline]: ctx.pipeline } } };
}

export function createIngestSourceActivities({ kafka, logger, sources = {} }: IngestSourceActivityDeps) {
  return {
    /**
     * Polls the run's source every `intervalMs` until `until` and writes each record it returns
     * with the key the source gives it: the pipeline's own module (`source`), or kto's built-in
     * random-user source for a `url`.
     *
     * A poll that fails inside the window (the source throws or exceeds `requestTimeoutMs`) is
     * counted and the next one waits longer (backoff), so a flaky source costs polls, not the
     * run. A malformed response, and a record whose shape or key fails, is counted, logged and
     * skipped. A source that rejects the request itself (`SourceRejectedError`, a 4xx for the url
     * form) fails the run at once. Kafka errors throw and Temporal retries the activity; the
     * retry polls only what is left of the window and carries the counts on (heartbeat
     * details). Delivery is at-least-once by key: a record produced just before a crash may be
     * produced again under the same key.
     */
    async pollSource(input: PollInput): Promise<PollCounts> {
      const context = Context.current();
      const previous = context.info.heartbeatDetails as PollCounts | undefined;
      const counts: PollCounts = { fetched: 0, produced: 0, skipped: 0, errors: 0, polls: 0, ...previous };
      const log = logger.child({ namespace: 'ingest', pipeline: input.pipeline, topic: input.topic, workflowId: context.info.workflowExecution?.workflowId });
      const { source, options } = sourceOf(input, sources);
      await kafka.admin.ensureTopics([{ topic: input.topic, partitions: NEW_TOPIC_PARTITIONS }]);

      const pollOnce = async (): Promise<PollOutcome> => {
        counts.polls++;
        const signal = AbortSignal.any([AbortSignal.timeout(input.requestTimeoutMs), context.cancellationSignal]);
        const ctx: SourceContext = { pipeline: input.pipeline, topic: input.topic, options, signal, poll: counts.polls };
        let items: unknown;
        try {
          items = await untilAborted(Promise.resolve().then(() => source.fetch(ctx)), signal);
        } catch (err) {
          if (context.cancellationSignal.aborted) throw err;
          // A SourceRejectedError (a KtoError, maybe of another copy of kto) fails the run.
          if (isNamed(err, 'SourceRejectedError')) {
            const message = redactUrlsIn(err.message);
            throw isKtoError(err) && message === err.message ? err : new KtoError(message, { type: 'SourceRejected' });
          }
          if (isNamed(err, 'MalformedResponseError')) {
            counts.skipped++;
            log.warn({ reason: redactUrlsIn(err.message), poll: ctx.poll }, 'malformed response skipped');
            return 'ok';
          }
          counts.errors++;
          // A source's error may quote the URL it fetched, credentials and all.
          const cause = String((err as { cause?: unknown }).cause ?? '');
          log.warn({ err: redactUrlsIn(messageOf(err)), cause: redactUrlsIn(cause), poll: ctx.poll }, 'poll failed; retrying with backoff');
          return 'error';
        }
        if (!Array.isArray(items)) {
          counts.skipped++;
          log.warn({ reason: `fetch returned ${items === null ? 'null' : typeof items}, not an array of records`, poll: ctx.poll }, 'malformed response skipped');
          return 'ok';
        }
        counts.fetched += items.length;
        const records: KafkaRecord[] = [];
        for (const [index, item] of items.entries()) {
          const result = toKafkaRecord(source, item, ctx);
          if (result.ok) records.push(result.record);
          else {
            counts.skipped++;
            log.warn({ reason: result.reason, index, poll: ctx.poll }, 'record skipped');
          }
        }
        if (records.length > 0) {
          await kafka.produce(records);
          counts.produced += records.length;
        }
        return 'ok';
      };

      return withHeartbeat(async (progress) => {
        progress({ ...counts });
        let failures = 0;
        while (Date.now() < input.until) {
          const started = Date.now();
          failures = (await pollOnce()) === 'error' ? failures + 1 : 0;
          progress({ ...counts });
          const wait = failures > 0 ? backoffDelay(failures - 1, { initialMs: 2 * input.intervalMs, maxMs: MAX_BACKOFF_MS }) : input.intervalMs - (Date.now() - started);
          if (Date.now() + wait >= input.until) break;
          if (wait > 0) await sleep(wait, undefined, { signal: context.cancellationSignal });
        }
        log.info({ ...counts }, 'ingest window done');
        return counts;
      });
    },
  };
}
