/**
 * Errors a person can act on. Every layer throws these (the CLI only prints them), so nothing
 * below the CLI imports from it.
 */

/** An error a user can act on: what happened, why, and the fix. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * A failure of kto's own with what a retry can do about it. Activities throw these (through any
 * layer, even from a step thread) and one place turns them into Temporal failures
 * (`activities/failures.ts`): of type `type`, retried by Temporal only when `retryable`.
 */
export class KtoError extends Error {
  /** The Temporal failure type, e.g. `TopicNotFound`: workflows and the UI see it. */
  readonly type: string;
  readonly retryable: boolean;

  constructor(message: string, options: { type: string; retryable?: boolean }) {
    super(message);
    this.name = 'KtoError';
    this.type = options.type;
    this.retryable = options.retryable ?? false;
  }
}

/** A KtoError, also one from another copy of kto (a project's own dependency) or rebuilt after a thread boundary. */
export function isKtoError(err: unknown): err is KtoError {
  if (err instanceof KtoError) return true;
  const e = err as { type?: unknown; retryable?: unknown } | null;
  return err instanceof Error && typeof e?.type === 'string' && typeof e.retryable === 'boolean';
}

/** `err` and what it wraps, outermost first: kafkajs sets `cause` or, on a retrier's error, `originalError`. */
export function* errorChain(err: unknown): Generator<{ name?: string; type?: string }> {
  const seen = new Set<unknown>();
  for (let e = err as { cause?: unknown; originalError?: unknown } | undefined; e && typeof e === 'object' && !seen.has(e); e = (e.cause ?? e.originalError) as typeof e) {
    seen.add(e);
    yield e as { name?: string; type?: string };
  }
}
