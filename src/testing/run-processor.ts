import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { defineMap, defineReduce, resolveProcessorExport, type BatchProcessor, type Decode, type ProcessorContext, type ProcessorFactory } from '../processors/define';
import { loadModule } from '../runtime/load-module';
import { createProcessorRun, type EncodedOutput, type ProcessorRun, type RecordSource } from '../processors/engine';
import { producerBytes } from './values';

/**
 * Runs a processor over a list of records for a user's unit tests, through the same engine as
 * the batch step, and gives its outputs and dead letters back decoded.
 */

/** Options of {@link runProcessor}; they make the {@link ProcessorContext} the processor sees. */
export interface RunProcessorOptions {
  /** @default 'test-topic' */
  topic?: string;
  /** @default 0 */
  partition?: number;
  /** @default 'test-pipeline' */
  pipeline?: string;
  /** The pipeline's processor options: given to a factory and found in `ctx.options`. */
  options?: unknown;
  /** Overrides the processor's `decode` for this run. */
  decode?: Decode;
}

/** What {@link runProcessor} gives back. */
export interface RunProcessorResult {
  /** In the order the batch step writes them; values JSON-parsed back, or a Buffer when not JSON. */
  outputs: Array<{ key: string | null; value: unknown; headers?: Record<string, string> }>;
  /** The rejected records: their offset, the value as given, and the dead-letter reason. */
  errors: Array<{ offset: number; value: unknown; reason: string }>;
}

/**
 * Runs `processor` — a processor, a factory, or the path of a module exporting either (resolved
 * from the working directory) — over `records`.
 *
 * Each record is a plain value, encoded as a producer would (Buffers as is, strings as UTF-8,
 * null as a tombstone, anything else as JSON), or `{ value, offset? }` (an object with no other
 * key); offsets default to the record's index. To pass a plain object whose only field is
 * `value`, wrap it: `{ value: { value: 1 } }`.
 *
 * For a reduce processor it also checks `merge` as the engine may use it: it reduces the first
 * and the second half of the records separately, merges them key by key, and compares the
 * emitted outputs with those of one pass (numbers within a relative 1e-9, since float sums
 * depend on their order).
 * @throws Error `merge is not consistent with add` when the two differ.
 */
export async function runProcessor(
  processor: BatchProcessor | ProcessorFactory | string,
  records: ReadonlyArray<unknown>,
  options: RunProcessorOptions = {},
): Promise<RunProcessorResult> {
  const found = typeof processor === 'string' ? loadModule(path.resolve(processor)) : processor;
  const resolved = resolveProcessorExport(found, options.options);
  // An Avro processor's records are given decoded: they reach it as JSON would, with no registry.
  const decode = options.decode ?? (resolved.decode === 'avro' ? 'json' : undefined);
  const p = decode === undefined ? resolved : withDecode(resolved, decode);
  const given = records.map(toRecord);
  const source = recordSource(given);
  const ctx: ProcessorContext = {
    topic: options.topic ?? 'test-topic',
    partition: options.partition ?? 0,
    from: String(given.reduce((min, r) => Math.min(min, r.offset), given.length === 0 ? 0 : Infinity)),
    to: String(given.reduce((max, r) => Math.max(max, r.offset), -1)),
    pipeline: options.pipeline ?? 'test-pipeline',
    options: options.options,
  };

  const outputs: EncodedOutput[] = [];
  const whole = createProcessorRun(p, ctx, (o) => outputs.push(o));
  const errors: RunProcessorResult['errors'] = [];
  given.forEach((record, i) => {
    const reason = whole.add(source, i);
    if (reason !== null) errors.push({ offset: record.offset, value: record.value, reason });
  });
  whole.finish();

  if (p.kind === 'reduce' && given.length >= 2) {
    const merged: EncodedOutput[] = [];
    const half = Math.floor(given.length / 2);
    const first = runOver(createProcessorRun(p, ctx, (o) => merged.push(o)), source, 0, half);
    first.merge(runOver(createProcessorRun(p, ctx, () => undefined), source, half, given.length));
    first.finish();
    checkMerge(outputs.map(decodeOutput), merged.map(decodeOutput));
  }
  return { outputs: outputs.map(decodeOutput), errors };
}

function withDecode(p: BatchProcessor, decode: Decode): BatchProcessor {
  return p.kind === 'reduce' ? defineReduce({ ...p, decode }) : defineMap({ ...p, decode });
}

interface GivenRecord {
  value: unknown;
  offset: number;
  bytes: Buffer | null;
}

function toRecord(record: unknown, index: number): GivenRecord {
  const wrapped = isWrapper(record);
  const value = wrapped ? record.value : record;
  const offset = wrapped && record.offset !== undefined ? record.offset : index;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`record ${index}: offset must be a whole number from 0, got ${String(offset)}`);
  if (value === undefined) throw new TypeError(`record ${index}: a value is required (null for a tombstone)`);
  return { value, offset, bytes: producerBytes(value) };
}

function isWrapper(record: unknown): record is { value: unknown; offset?: number } {
  if (record === null || typeof record !== 'object' || Buffer.isBuffer(record) || !Object.hasOwn(record, 'value')) return false;
  return Object.keys(record).every((name) => name === 'value' || name === 'offset');
}

function recordSource(records: readonly GivenRecord[]): RecordSource {
  return {
    offset: (i) => records[i].offset,
    text: (i) => records[i].bytes?.toString('utf8') ?? null,
    value: (i) => records[i].bytes,
  };
}

function runOver(run: ProcessorRun, source: RecordSource, from: number, to: number): ProcessorRun {
  for (let i = from; i < to; i++) run.add(source, i);
  return run;
}

function decodeOutput(output: EncodedOutput): RunProcessorResult['outputs'][number] {
  let value: unknown = output.value;
  try {
    value = JSON.parse(output.value.toString('utf8'));
  } catch {
    // Not JSON: the processor wrote bytes, which the test gets as they are.
  }
  return output.headers === undefined ? { key: output.key, value } : { key: output.key, value, headers: output.headers };
}

function checkMerge(onePass: RunProcessorResult['outputs'], merged: RunProcessorResult['outputs']): void {
  const keys = (outputs: RunProcessorResult['outputs']) => JSON.stringify(outputs.map((o) => o.key));
  if (keys(onePass) !== keys(merged)) {
    throw new Error(`merge is not consistent with add: one pass emits the keys ${keys(onePass)}, two merged halves ${keys(merged)}`);
  }
  onePass.forEach((expected, i) => {
    if (!nearlyEqual(expected.value, merged[i].value)) {
      throw new Error(
        `merge is not consistent with add: for key ${JSON.stringify(expected.key)} one pass emits ${preview(expected.value)} ` +
          `but reducing two halves and merging them emits ${preview(merged[i].value)}. ` +
          'merge(a, b) must return the state that adding b’s records to a would have given.',
      );
    }
  });
}

function nearlyEqual(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => nearlyEqual(x, b[i]));
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Buffer.isBuffer(a) || Buffer.isBuffer(b)) return isDeepStrictEqual(a, b);
  const keysA = Object.keys(a);
  return keysA.length === Object.keys(b).length && keysA.every((k) => Object.hasOwn(b, k) && nearlyEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function preview(value: unknown): string {
  const text = Buffer.isBuffer(value) ? `<${value.length} bytes>` : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
