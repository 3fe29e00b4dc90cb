import { describeExport, hasOwn } from '../runtime/exports';

/**
 * The batch processor API: what a user writes to run their own code inside kto's exactly-once
 * batch step. The step stages a pinned range of offsets of one partition, runs the processor
 * over it (engine.ts) and writes the outputs and dead letters in one Kafka transaction.
 *
 * Every processor must be deterministic for a given range: a retried step (say, after its worker
 * was lost) runs it again over the same records, and which run's output lands is not defined.
 * Its output may depend only on the records, the context and the options: no clock, no random
 * numbers, no lookups whose answer can change.
 */

/**
 * How a record's value reaches the processor.
 * - `json`: the UTF-8 value parsed with `JSON.parse`; a value that does not parse, or a null
 *   value (tombstone), is rejected with reason `invalid-json: …`.
 * - `text`: the value as a UTF-8 string; a tombstone is rejected with reason `tombstone: …`.
 * - `bytes`: the value's bytes as a Buffer (a view into the staged chunk: copy what you keep in
 *   state with `Buffer.from`), or `null` for a tombstone.
 * - `avro`: Confluent-framed Avro (magic byte 0, 4-byte schema id, Avro binary), decoded with
 *   the writer's schema fetched by id from the schema registry at KTO_SCHEMA_REGISTRY_URL (once
 *   per id and step). A value not in that frame is rejected with reason `invalid-avro: …`, an id
 *   the registry does not know with `unknown-schema: …`, a tombstone with `tombstone: …`; an
 *   unreachable registry fails the step, which Temporal retries. Longs beyond 2^53 lose precision.
 * @default 'json'
 */
export type Decode = 'json' | 'text' | 'bytes' | 'avro';

/** One input record, handed to `key`, `add` or `transform`. */
export interface InputRecord<V = unknown> {
  /** The decoded value (see {@link Decode}). */
  value: V;
  /** The record's offset: a number below 2^53 (every offset in practice), a bigint above. */
  offset: number | bigint;
  topic: string;
  partition: number;
}

/**
 * One output record, written to the pipeline's output topic in the range's transaction.
 * `value` is written as is when it is a Buffer, otherwise as `JSON.stringify(value)`; a value
 * that JSON cannot express (`undefined`, a function, a bigint) is an error of the record that
 * produced it.
 */
export interface OutputRecord {
  /** Kafka record key. @default null */
  key?: string | null;
  value: unknown;
  /** Kafka headers, beside the ones kto adds (pipeline, source range). */
  headers?: Record<string, string>;
}

/** What a processor knows about the range it runs over; the same for every call of one run. */
export interface ProcessorContext {
  topic: string;
  partition: number;
  /** First and last offset of the pinned range, inclusive, as decimal strings. */
  from: string;
  to: string;
  pipeline: string;
  /** The pipeline's processor options, as configured (also given to a processor factory). */
  options: unknown;
}

/**
 * Thrown by a processor (or by kto's decoding) to reject one record with `message` as the
 * dead-letter reason, verbatim. Any other error thrown for a record becomes the reason
 * `processor-error: <message>`. Prefer `<code>: <detail>` with a stable code, which is safe as a
 * metric label, e.g. `new RecordError('missing-field: user')`.
 */
export class RecordError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RecordError';
  }
}

/**
 * The reduce form: groups a range's records by key and folds each group into a state, then
 * emits one output per key. Output records come out sorted by key (so a range always gives the
 * same output), each with the group key as its Kafka key.
 *
 * A state must stay bounded per key (counters, sums, sketches, fixed histograms — not the list
 * of records), because a range holds millions of records. Memory grows with the number of keys.
 *
 * A record whose `key` or `add` throws is rejected (see {@link RecordError}) and the range goes
 * on; `add` should therefore validate before it mutates the state. Errors in `init`, `merge` and
 * `emit` are not one record's fault: they fail the step, which Temporal retries.
 */
export interface ReduceDefinition<V = unknown, S = unknown> {
  /** @default 'json' */
  decode?: Decode;
  /** The group a record belongs to. Records arrive in offset order, usually many in a row with the same key. */
  key(record: InputRecord<V>, ctx: ProcessorContext): string;
  /** The empty state of a new key, before its first record. */
  init(key: string, ctx: ProcessorContext): S;
  /** Folds one record in; may mutate `state` and return it, or return a new state. */
  add(state: S, record: InputRecord<V>, ctx: ProcessorContext): S;
  /**
   * Combines two states of the same key, as if `b`'s records had been added to `a` after `a`'s.
   * The batch step reduces a range in one pass today; `merge` is the contract that lets a range
   * be split across threads, and `runProcessor` (src/testing) checks that merging two halves
   * gives what one pass gives.
   */
  merge(a: S, b: S): S;
  /**
   * The output value of one key (written as {@link OutputRecord.value} is). Must not change
   * `state`: the engine may emit a state more than once.
   */
  emit(state: S, key: string, ctx: ProcessorContext): unknown;
}

/**
 * The map form: turns each record into zero, one or several output records, in record order —
 * for filtering, enriching and re-keying. A record whose `transform` throws, or returns an
 * output that cannot be written, is rejected and none of its outputs are written.
 */
export interface MapDefinition<V = unknown> {
  /** @default 'json' */
  decode?: Decode;
  /** The outputs of one record: one, an array of any length, or null/undefined for none. */
  transform(record: InputRecord<V>, ctx: ProcessorContext): OutputRecord | readonly OutputRecord[] | null | undefined;
}

/** A reduce processor, as {@link defineReduce} returns it. */
export type ReduceProcessor<V = unknown, S = unknown> = Readonly<ReduceDefinition<V, S>> & { readonly kind: 'reduce'; readonly decode: Decode };

/** A map processor, as {@link defineMap} returns it. */
export type MapProcessor<V = unknown> = Readonly<MapDefinition<V>> & { readonly kind: 'map'; readonly decode: Decode };

/** What kto runs in the batch step; a processor module exports one (or a {@link ProcessorFactory}). */
export type BatchProcessor = ReduceProcessor | MapProcessor;

/** A processor module's export when the processor depends on the pipeline's options. */
export type ProcessorFactory = (options: unknown) => BatchProcessor;

const DECODES: readonly Decode[] = ['json', 'text', 'bytes', 'avro'];

/**
 * Defines a reduce processor (see {@link ReduceDefinition}).
 * @throws TypeError when a function is missing or `decode` is not one of json, text, bytes, avro.
 * @example
 * export default defineReduce<{ user: string; ms: number }, { n: number; total: number }>({
 *   key: (r) => r.value.user,
 *   init: () => ({ n: 0, total: 0 }),
 *   add: (s, r) => ((s.n += 1), (s.total += r.value.ms), s),
 *   merge: (a, b) => ({ n: a.n + b.n, total: a.total + b.total }),
 *   emit: (s) => ({ requests: s.n, meanMs: s.total / s.n }),
 * });
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- without type arguments, records read as freely as in JavaScript
export function defineReduce<V = any, S = any>(def: ReduceDefinition<V, S>): ReduceProcessor<V, S> {
  requireFunctions('defineReduce', def, ['key', 'init', 'add', 'merge', 'emit']);
  const { key, init, add, merge, emit } = def;
  return Object.freeze({ kind: 'reduce' as const, decode: decodeOf('defineReduce', def.decode), key, init, add, merge, emit });
}

/**
 * Defines a map processor (see {@link MapDefinition}).
 * @throws TypeError when `transform` is missing or `decode` is not one of json, text, bytes, avro.
 * @example
 * export default defineMap<{ status: number; path: string }>({
 *   transform: (r) => (r.value.status >= 500 ? { key: r.value.path, value: r.value } : null),
 * });
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- without type arguments, records read as freely as in JavaScript
export function defineMap<V = any>(def: MapDefinition<V>): MapProcessor<V> {
  requireFunctions('defineMap', def, ['transform']);
  return Object.freeze({ kind: 'map' as const, decode: decodeOf('defineMap', def.decode), transform: def.transform });
}

/**
 * The processor a module provides: its default export or `module.exports`, either a processor
 * or a factory called with `options`. Also accepts what `import()` of a CommonJS module gives.
 * @throws TypeError naming what was found and how to export a processor.
 */
export function resolveProcessorExport(moduleExports: unknown, options: unknown): BatchProcessor {
  let found = moduleExports;
  // import() of CommonJS wraps module.exports in `default`, which may itself hold `default`.
  for (let depth = 0; depth < 2 && !isProcessorLike(found) && typeof found !== 'function' && hasOwn(found, 'default'); depth++) {
    found = found.default;
  }
  if (typeof found === 'function') {
    const made: unknown = (found as (options: unknown) => unknown)(options);
    if (isProcessorLike(made)) return normalise(made);
    throw new TypeError(`the processor module exports a function (taken as a factory), but it returned ${describeExport(made)}. ${EXPORT_FIX}`);
  }
  if (isProcessorLike(found)) return normalise(found);
  throw new TypeError(`the processor module exports ${describeExport(found)}, which is neither a processor nor a factory. ${EXPORT_FIX}`);
}

const EXPORT_FIX =
  'Fix: `export default defineMap({ transform(record) { … } })` or `defineReduce({ key, init, add, merge, emit })` ' +
  '(or assign it to `module.exports`), or export a function `(options) => defineMap(…)`.';

function normalise(found: ReduceDefinition & { kind: 'reduce' } | MapDefinition & { kind: 'map' }): BatchProcessor {
  return found.kind === 'reduce' ? defineReduce(found) : defineMap(found);
}

function isProcessorLike(value: unknown): value is ReduceDefinition & { kind: 'reduce' } | MapDefinition & { kind: 'map' } {
  return hasOwn(value, 'kind') && (value.kind === 'reduce' || value.kind === 'map');
}

function requireFunctions(caller: string, def: object, names: readonly string[]): void {
  if (def === null || typeof def !== 'object') throw new TypeError(`${caller} takes an object of functions, got ${describeExport(def)}`);
  const missing = names.filter((name) => typeof (def as Record<string, unknown>)[name] !== 'function');
  if (missing.length > 0) throw new TypeError(`${caller} needs the functions ${names.join(', ')}; missing or not a function: ${missing.join(', ')}`);
}

function decodeOf(caller: string, decode: unknown): Decode {
  if (decode === undefined) return 'json';
  if (DECODES.includes(decode as Decode)) return decode as Decode;
  throw new TypeError(`${caller}: decode must be one of ${DECODES.join(', ')}, got ${JSON.stringify(decode)}`);
}
