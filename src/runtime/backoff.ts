import { setTimeout as sleep } from 'node:timers/promises';

export interface BackoffOptions {
  /** @default 200 */
  initialMs?: number;
  /** @default 30_000 */
  maxMs?: number;
  /** @default 2 */
  factor?: number;
}

function withDefaults(options: BackoffOptions) {
  return { initialMs: 200, maxMs: 30_000, factor: 2, ...options };
}

/** "Equal jitter" delay for attempt n (0-based): uniform in [cap/2, cap], cap = min(max, initial * factor^n). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const o = withDefaults(options);
  const cap = Math.min(o.maxMs, o.initialMs * o.factor ** Math.min(attempt, 30));
  return cap / 2 + Math.random() * (cap / 2);
}

/**
 * Runs `fn` until it succeeds, waiting longer (with jitter) after each failure. It never gives
 * up by itself: aborting `signal` ends the loop with `undefined`, which the caller reads as "not done".
 */
export async function retryForever<T>(
  fn: () => Promise<T>,
  options: BackoffOptions & { signal: AbortSignal; onError: (err: unknown, attempt: number, delayMs: number) => void },
): Promise<{ value: T } | undefined> {
  for (let attempt = 0; ; attempt++) {
    if (options.signal.aborted) return undefined;
    try {
      return { value: await fn() };
    } catch (err) {
      if (options.signal.aborted) return undefined;
      const delay = backoffDelay(attempt, options);
      options.onError(err, attempt, delay);
      await sleep(delay, undefined, { signal: options.signal }).catch(() => undefined);
    }
  }
}
