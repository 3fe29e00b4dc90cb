import { KtoError } from '../runtime/errors';
import { describeExport, hasOwn } from '../runtime/exports';

/**
 * The ingest source API: what a user writes to poll their own system into a topic. An ingest
 * pipeline names a source module (`source: './sources/orders.ts'`) whose default export is
 * `defineSource({ fetch, key })`; the worker loads it by pipeline name, so the workflow input
 * stays serialisable, and the ingest activity calls `fetch` once per poll for the run's window.
 *
 * Delivery is at least once, by key: a poll repeated after a crash writes its records again,
 * so give each record a key derived from its content or its id at the source (not a random
 * one), and consumers deduplicate by key or the topic is compacted.
 */

/** What a source knows about the poll it answers. */
export interface SourceContext {
  /** The pipeline's name. */
  pipeline: string;
  /** The topic the records go to. */
  topic: string;
  /** The pipeline's `sourceOptions`, as configured (any JSON value; validate it yourself, e.g. with zod). */
  options: unknown;
  /**
   * Aborted when the poll takes longer than the pipeline's `requestTimeoutMs` or the run is
   * cancelled: hand it to `fetch()` and other I/O. kto stops waiting for the poll then anyway.
   */
  signal: AbortSignal;
  /** The poll's number in the run, from 1; a retried attempt of the run goes on counting. */
  poll: number;
}

/**
 * A source: `fetch` one poll's records, optionally `shape` each into the value written, and
 * `key` it.
 * @typeParam R - a record as `fetch` returns it
 * @typeParam V - the value written for a record (`shape`'s result; the record itself without `shape`)
 */
export interface SourceDefinition<R = unknown, V = R> {
  /**
   * The records of one poll, in the order they are written (an empty array when there is
   * nothing new). Throwing fails the poll: it is counted in `errors` and the next poll waits
   * longer (backoff), still inside the window. Throw a {@link MalformedResponseError} for an
   * answer that asking again will not fix (counted in `skipped`, next poll on time), and a
   * {@link SourceRejectedError} when the source refuses the request itself (wrong URL, bad
   * credentials): the run then fails at once.
   */
  fetch(ctx: SourceContext): readonly R[] | Promise<readonly R[]>;
  /**
   * The value written for a record, serialised with `JSON.stringify`. A record whose `shape`
   * throws is skipped (counted in `skipped` and logged with the reason); the rest of the poll is
   * written. @default the record as it is
   */
  shape?(record: R, ctx: SourceContext): V;
  /**
   * The Kafka key of a value (`shape`'s result), a string or null. A record whose `key` throws
   * or returns anything else is skipped like a record whose `shape` throws.
   */
  key(value: V, ctx: SourceContext): string | null;
}

/** A source, as {@link defineSource} returns it. */
export type IngestSource<R = unknown, V = R> = Readonly<Required<SourceDefinition<R, V>>> & { readonly kind: 'source' };

/**
 * Thrown by `fetch` when the source refuses the request itself (a 4xx, bad credentials, wrong
 * options): asking again will not help, so the run fails at once with this message. Give the
 * fix in it, e.g. `new SourceRejectedError('GET /orders answered 401. Fix: set ORDERS_TOKEN')`.
 */
export class SourceRejectedError extends KtoError {
  constructor(message: string) {
    super(message, { type: 'SourceRejected' });
    this.name = 'SourceRejectedError';
  }
}

/**
 * Thrown by `fetch` for an answer that cannot be read (not JSON, no list where one belongs):
 * the poll is counted in `skipped` and logged with this message, and the next poll comes on
 * time, not after a backoff.
 */
export class MalformedResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedResponseError';
  }
}

/**
 * Defines an ingest source (see {@link SourceDefinition}); a source module exports it as default.
 * @throws TypeError when `fetch` or `key` is missing, or `shape` is given but is not a function.
 * @example
 * // sources/orders.ts
 * export default defineSource<{ id: string; total: number }>({
 *   async fetch({ options, signal }) {
 *     const res = await fetch((options as { url: string }).url, { signal });
 *     if (!res.ok) throw new Error(`orders answered HTTP ${res.status}`);
 *     return (await res.json()) as { id: string; total: number }[];
 *   },
 *   key: (order) => order.id,
 * });
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- without type arguments, records read as freely as in JavaScript
export function defineSource<R = any, V = R>(def: SourceDefinition<R, V>): IngestSource<R, V> {
  if (def === null || typeof def !== 'object') throw new TypeError(`defineSource takes an object of functions, got ${describeExport(def)}`);
  const missing = (['fetch', 'key'] as const).filter((name) => typeof def[name] !== 'function');
  if (missing.length > 0) throw new TypeError(`defineSource needs the functions fetch and key; missing or not a function: ${missing.join(', ')}`);
  if (def.shape !== undefined && typeof def.shape !== 'function') throw new TypeError(`defineSource: shape must be a function, got ${describeExport(def.shape)}`);
  const { fetch, key } = def;
  const shape = def.shape ?? ((record: R) => record as unknown as V);
  return Object.freeze({ kind: 'source' as const, fetch, shape, key });
}

/**
 * The source a module provides: its default export or `module.exports` (also what `import()` of
 * a CommonJS module gives).
 * @throws TypeError naming what was found and how to export a source.
 */
export function resolveSourceExport(moduleExports: unknown): IngestSource {
  let found = moduleExports;
  // import() of CommonJS wraps module.exports in `default`, which may itself hold `default`.
  for (let depth = 0; depth < 2 && !isSourceLike(found) && hasOwn(found, 'default'); depth++) found = found.default;
  if (isSourceLike(found)) return defineSource(found);
  throw new TypeError(`the source module exports ${describeExport(found)}, which is not a source. Fix: \`export default defineSource({ fetch(ctx) { … }, key(record) { … } })\` (or assign it to \`module.exports\`)`);
}

function isSourceLike(value: unknown): value is SourceDefinition & { kind: 'source' } {
  return hasOwn(value, 'kind') && value.kind === 'source';
}

