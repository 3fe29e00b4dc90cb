import { ApplicationFailure } from '@temporalio/common';
import { isKtoError } from '../src/runtime/errors';

/**
 * The one place where kto's own errors become Temporal failures: a KtoError fails the activity
 * with its type, retried only when it says a retry can help; anything else is left to
 * Temporal's retry policy as it is.
 */
export function toTemporalFailure(err: unknown): unknown {
  if (!isKtoError(err)) return err;
  return ApplicationFailure.create({ message: err.message, type: err.type, nonRetryable: !err.retryable, cause: err });
}

/** The activities with each one's KtoErrors turned into Temporal failures. */
export function withFailures<A extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: A): A {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toTemporalFailure(err);
      }
    };
  }
  return wrapped as A;
}
