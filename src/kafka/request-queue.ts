import { createRequire } from 'node:module';

/**
 * kafkajs 2.2.4, its last release, re-arms a timer on every connection's request queue after
 * each check, even when no request waits (tulios/kafkajs#1556; the fix proposed upstream is
 * #1667). Each open connection then wakes its thread about once a millisecond for as long as it
 * is open: a few per cent of a core per idle connection, and many times that in a batch step
 * that holds a dozen connections at once. The timer only sends requests that wait, so with
 * none waiting it is skipped; a request that has to wait schedules its check when it is queued.
 */

interface RequestQueue {
  pending: unknown[];
  scheduleCheckPendingRequests(): void;
}

const FIXED_VERSION = '2.2.4';
const load = createRequire(__filename);

let applied = false;

/** Applies the fix to kafkajs 2.2.4; other versions are left as they are. Returns whether it applies. */
export function fixIdleRequestQueueTimer(): boolean {
  if (applied) return true;
  const { version } = load('kafkajs/package.json') as { version: string };
  if (version !== FIXED_VERSION) return false;
  const prototype = (load('kafkajs/src/network/requestQueue') as { prototype: RequestQueue }).prototype;
  const schedule = prototype.scheduleCheckPendingRequests;
  prototype.scheduleCheckPendingRequests = function (this: RequestQueue) {
    if (this.pending.length > 0) schedule.call(this);
  };
  applied = true;
  return true;
}
