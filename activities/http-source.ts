import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { backoffDelay } from '../src/dispatcher/backoff';
import { parseRandomUserResponse, shapeRandomUser } from '../src/ingest/random-user';
import type { KafkaIo } from '../src/kafka';
import type { Logger } from '../src/logger';
import { OUTPUT_HEADERS } from '../src/shared/batch';
import type { PollCounts, PollInput } from '../src/shared/ingest';
import { withHeartbeat } from './heartbeat';

export interface HttpSourceActivityDeps {
  kafka: KafkaIo;
  logger: Logger;
}

/** Backoff after failed requests never waits longer than this. */
const MAX_BACKOFF_MS = 10_000;
/** Partitions of a topic the ingest creates itself (an existing topic is used as it is). */
const NEW_TOPIC_PARTITIONS = 3;

/** Answers worth asking again later: the server is busy or broken, not the request. */
const isTransient = (status: number) => status >= 500 || status === 408 || status === 429;

type PollOutcome = 'ok' | 'error';

export function createHttpSourceActivities({ kafka, logger }: HttpSourceActivityDeps) {
  return {
    /**
     * Polls `url` every `intervalMs` until `until` and writes each shaped record keyed by its id.
     *
     * Failures inside the window (5xx, 408/429, timeouts, refused connections) are counted and
     * retried here with backoff, so a flaky source costs polls, not the run. A malformed answer
     * or record is counted, logged and skipped. A 4xx is a wrong URL: the run fails at once.
     * Kafka errors throw and Temporal retries the activity; the retry polls only what is left of
     * the window and carries the counts on (heartbeat details). Delivery is at-least-once by
     * key: a record produced just before a crash may be produced again under the same key.
     */
    async pollHttpSource(input: PollInput): Promise<PollCounts> {
      const context = Context.current();
      const previous = context.info.heartbeatDetails as PollCounts | undefined;
      const counts: PollCounts = { fetched: 0, produced: 0, skipped: 0, errors: 0, polls: 0, ...previous };
      const log = logger.child({ namespace: 'ingest', pipeline: input.pipeline, topic: input.topic, workflowId: context.info.workflowExecution?.workflowId });
      await kafka.admin.ensureTopics([{ topic: input.topic, partitions: NEW_TOPIC_PARTITIONS }]);

      const pollOnce = async (): Promise<PollOutcome> => {
        counts.polls++;
        let status: number;
        let body: string;
        try {
          const signal = AbortSignal.any([AbortSignal.timeout(input.requestTimeoutMs), context.cancellationSignal]);
          const res = await fetch(input.url, { signal, headers: { accept: 'application/json' } });
          status = res.status;
          body = await res.text();
        } catch (err) {
          if (context.cancellationSignal.aborted) throw err;
          counts.errors++;
          log.warn({ err: (err as Error).message, cause: String((err as { cause?: unknown }).cause ?? '') }, 'request failed; retrying with backoff');
          return 'error';
        }
        if (isTransient(status)) {
          counts.errors++;
          log.warn({ status }, 'source answered a transient error; retrying with backoff');
          return 'error';
        }
        if (status >= 400) {
          throw ApplicationFailure.nonRetryable(
            `${input.url} answered HTTP ${status}: the request itself is wrong, so asking again will not help. Fix: correct the pipeline's url`,
            'HttpSourceRejected',
          );
        }
        const parsed = parseRandomUserResponse(body);
        if (!parsed.ok) {
          counts.skipped++;
          log.warn({ reason: parsed.reason, body: body.slice(0, 200) }, 'malformed response skipped');
          return 'ok';
        }
        counts.fetched += parsed.results.length;
        const records = [];
        for (const [index, raw] of parsed.results.entries()) {
          const shaped = shapeRandomUser(raw);
          if (shaped.ok) {
            records.push({ topic: input.topic, key: shaped.record.id, value: JSON.stringify(shaped.record), headers: { [OUTPUT_HEADERS.pipeline]: input.pipeline } });
          } else {
            counts.skipped++;
            log.warn({ reason: shaped.reason, index }, 'malformed record skipped');
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
