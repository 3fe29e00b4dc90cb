import type { StagedChunk } from '../steps/staging';
import type { BatchProcessor, Decode, InputRecord, MapProcessor, OutputRecord, ProcessorContext, ReduceProcessor } from './define';
import { RecordError } from './define';

/**
 * Runs a batch processor (define.ts) over the records of one range. The only implementation:
 * the batch step, `createAggregator` and `runProcessor` (src/testing) all go through it.
 *
 * This is the hot path (millions of records per step): per record it allocates the decoded
 * value and the InputRecord, nothing else — no result object, no closure.
 */

/** The part of a staged chunk the engine reads, so the batch step passes its chunks straight in. */
export type RecordSource = Pick<StagedChunk, 'offset' | 'text' | 'value'>;

/** An output record ready for Kafka: key and headers as given, the value as bytes. */
export interface EncodedOutput {
  key: string | null;
  value: Buffer;
  headers?: Record<string, string>;
  /** The source record's offset (map), or the last offset folded into the key (reduce). */
  offset: number | bigint;
}

export interface ProcessorRun {
  /**
   * Runs the processor on record `i` of `source`.
   * @returns null when the record is accepted, else the dead-letter reason.
   * @throws what `init` throws, or a TypeError when `add` returns undefined: faults of the code, not of a record.
   */
  add(source: RecordSource, i: number): string | null;
  /**
   * Reduce: emits one output per key, sorted by key, through `onOutput`. It does not reset the
   * run, so a second call emits the current states again. Map: outputs are emitted as records
   * come, so it does nothing.
   */
  finish(): void;
  /**
   * Reduce only: folds another run of the same processor (over later records) into this one,
   * key by key with `merge`. The other run must not be used afterwards: its states are taken over.
   */
  merge(other: ProcessorRun): void;
  readonly accepted: number;
  readonly rejected: number;
  /** Reduce: the number of keys. Map: the outputs so far. */
  readonly groups: number;
}

interface Group {
  state: unknown;
  offset: number | bigint;
}

/** Turns record `i` of a source into the value a processor sees, or throws a RecordError. */
export type Decoder = (source: RecordSource, i: number) => unknown;

const DECODERS: Record<Decode, Decoder> = {
  json(source, i) {
    const text = source.text(i);
    if (text === null) throw new RecordError('invalid-json: message value is null (tombstone)');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new RecordError(`invalid-json: ${(err as Error).message}`);
    }
  },
  text(source, i) {
    const text = source.text(i);
    if (text === null) throw new RecordError('tombstone: message value is null');
    return text;
  },
  bytes: (source, i) => source.value(i),
  avro() {
    // The batch step passes its registry-backed decoder (avro.ts); reaching this is a wiring fault.
    throw new Error('decode "avro" needs a schema registry, and none was given to this run');
  },
};

/** The reduce runs' groups, for `merge`, kept off the run object so that nothing else reaches them. */
const RUN_GROUPS = new WeakMap<ProcessorRun, Map<string, Group>>();

/**
 * Starts a run of `processor` over one range; `onOutput` receives each output as it is made.
 * `decoder` replaces the one of the processor's `decode` (the batch step passes the Avro one).
 */
export function createProcessorRun(processor: BatchProcessor, ctx: ProcessorContext, onOutput: (output: EncodedOutput) => void, decoder?: Decoder): ProcessorRun {
  const decode = decoder ?? DECODERS[processor.decode];
  return processor.kind === 'reduce' ? reduceRun(processor, ctx, onOutput, decode) : mapRun(processor, ctx, onOutput, decode);
}

function reduceRun(p: ReduceProcessor, ctx: ProcessorContext, onOutput: (output: EncodedOutput) => void, decode: Decoder): ProcessorRun {
  const { topic, partition } = ctx;
  const groups = new Map<string, Group>();
  let accepted = 0;
  let rejected = 0;
  // Records usually arrive in runs of one key, so the previous key's group saves the Map lookup.
  let lastKey: string | undefined;
  let lastGroup: Group | undefined;

  const run: ProcessorRun = {
    add(source, i) {
      const offset = source.offset(i);
      let record: InputRecord;
      let key: string;
      try {
        record = { value: decode(source, i), offset, topic, partition };
        key = p.key(record, ctx);
        if (isThenable(key)) throw new SynchronousOnlyError('key()');
        if (typeof key !== 'string') throw new TypeError(`key() must return a string, got ${typeof key}`);
      } catch (err) {
        if (err instanceof SynchronousOnlyError) throw err;
        rejected += 1;
        return reasonOf(err);
      }
      let group = key === lastKey ? lastGroup : groups.get(key);
      const fresh = group === undefined;
      if (group === undefined) {
        group = { state: p.init(key, ctx), offset };
        groups.set(key, group);
      }
      let next: unknown;
      try {
        next = p.add(group.state, record, ctx);
      } catch (err) {
        // A key that only a rejected record asked for must not emit an empty state.
        if (fresh) groups.delete(key);
        rejected += 1;
        return reasonOf(err);
      }
      if (next === undefined) throw new TypeError(`add() must return the state (the same object or a new one), got undefined for key "${key}"`);
      if (isThenable(next)) throw new SynchronousOnlyError('add()');
      group.state = next;
      group.offset = offset;
      lastKey = key;
      lastGroup = group;
      accepted += 1;
      return null;
    },
    finish() {
      for (const key of [...groups.keys()].sort()) {
        const group = groups.get(key)!;
        onOutput({ key, value: encodeValue(p.emit(group.state, key, ctx), 'emit()'), headers: undefined, offset: group.offset });
      }
    },
    merge(other) {
      const theirs = RUN_GROUPS.get(other);
      if (theirs === undefined) throw new TypeError('merge() takes another run of a reduce processor');
      for (const [key, group] of theirs) {
        const mine = groups.get(key);
        if (mine === undefined) {
          groups.set(key, { state: group.state, offset: group.offset });
        } else {
          mine.state = p.merge(mine.state, group.state);
          if (group.offset > mine.offset) mine.offset = group.offset;
        }
      }
      accepted += other.accepted;
      rejected += other.rejected;
    },
    get accepted() {
      return accepted;
    },
    get rejected() {
      return rejected;
    },
    get groups() {
      return groups.size;
    },
  };
  RUN_GROUPS.set(run, groups);
  return run;
}

function mapRun(p: MapProcessor, ctx: ProcessorContext, onOutput: (output: EncodedOutput) => void, decode: Decoder): ProcessorRun {
  const { topic, partition } = ctx;
  let accepted = 0;
  let rejected = 0;
  let outputs = 0;

  return {
    add(source, i) {
      const offset = source.offset(i);
      // Every output of a record is encoded before any is emitted: a bad one rejects them all.
      let encoded: EncodedOutput | EncodedOutput[] | undefined;
      try {
        const result = p.transform({ value: decode(source, i), offset, topic, partition }, ctx);
        if (isThenable(result)) throw new SynchronousOnlyError('transform()');
        if (Array.isArray(result)) {
          encoded = [];
          for (const output of result as readonly OutputRecord[]) encoded.push(encodeOutput(output, offset));
        } else if (result !== null && result !== undefined) {
          encoded = encodeOutput(result as OutputRecord, offset);
        }
      } catch (err) {
        if (err instanceof SynchronousOnlyError) throw err;
        rejected += 1;
        return reasonOf(err);
      }
      accepted += 1;
      if (Array.isArray(encoded)) {
        for (const output of encoded) onOutput(output);
        outputs += encoded.length;
      } else if (encoded !== undefined) {
        onOutput(encoded);
        outputs += 1;
      }
      return null;
    },
    finish() {},
    merge() {
      throw new TypeError('merge() is for runs of reduce processors; a map run has no state to merge');
    },
    get accepted() {
      return accepted;
    },
    get rejected() {
      return rejected;
    },
    get groups() {
      return outputs;
    },
  };
}

const isThenable = (value: unknown): boolean => typeof (value as { then?: unknown } | null)?.then === 'function';

/** A processor function that returned a promise: a fault of the code, which fails the step instead of rejecting records. */
class SynchronousOnlyError extends TypeError {
  constructor(from: string) {
    super(`${from} returned a promise: processors run synchronously (do I/O in an activity, or in an ingest source)`);
  }
}

/**
 * A RecordError's message is the reason as is; anything else a processor throws is its own fault.
 * Known by name, so that a RecordError from another copy of kto (a processor's own dependency) counts.
 */
function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.name === 'RecordError' ? err.message : `processor-error: ${err.message}`;
  return `processor-error: ${String(err)}`;
}

function encodeOutput(output: OutputRecord, offset: number | bigint): EncodedOutput {
  if (output === null || typeof output !== 'object' || Buffer.isBuffer(output)) {
    throw new TypeError(`transform() must return output records { key?, value, headers? }, got ${output === null ? 'null' : typeof output}`);
  }
  const key = output.key ?? null;
  if (key !== null && typeof key !== 'string') throw new TypeError(`an output key must be a string or null, got ${typeof key}`);
  const headers = output.headers;
  if (headers !== undefined) {
    if (headers === null || typeof headers !== 'object') throw new TypeError(`output headers must be an object of strings, got ${headers === null ? 'null' : typeof headers}`);
    for (const name in headers) {
      if (typeof headers[name] !== 'string') throw new TypeError(`output header "${name}" must be a string, got ${typeof headers[name]}`);
    }
  }
  return { key, value: encodeValue(output.value, 'transform()'), headers, offset };
}

function encodeValue(value: unknown, from: string): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (isThenable(value)) throw new SynchronousOnlyError(from);
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`${from} gave an output value JSON cannot express (${typeof value}): return a JSON value or a Buffer`);
  return Buffer.from(json, 'utf8');
}
