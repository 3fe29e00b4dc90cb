import type { RejectCode } from '../aggregate/aggregator';
import { parseAggregationSpec, type AggregationSpecInput } from '../aggregate/spec';
import { bucketStart, compileTimestampFormat, formatBucket } from '../aggregate/timestamp';
import { defineReduce, RecordError, type BatchProcessor, type InputRecord } from './define';

/**
 * kto's built-in aggregation as a reduce processor: per time bucket (and `groupBy` value) the
 * count, sum, min, max and mean of a numeric field, optionally the number of distinct values of
 * another. Memory grows with the number of keys, not of records — except for `count-distinct`,
 * which keeps the distinct values seen per key.
 */

interface AggregateState {
  count: number;
  // Neumaier compensated sum: `sum + compensation` is the running total.
  sum: number;
  compensation: number;
  min: number;
  max: number;
  firstOffset: number | bigint;
  lastOffset: number | bigint;
  distinct: Set<unknown> | undefined;
}

const NUMERIC_STRING = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
const PREVIEW_LENGTH = 64;

/**
 * The reduce processor of an aggregation spec. Each output's key is the row key, `<bucket>` or
 * `<bucket>|<group>`; its value is the row `{ key, bucket, group?, count, sum, min, max, mean,
 * distinct?, firstOffset, lastOffset, source: { topic, partition, from, to } }`. Rejections are
 * RecordErrors with reasons `<code>: <detail>`, codes as in `RejectCode` (aggregator.ts).
 * @throws AggregationSpecError when `specInput` is invalid.
 */
export function aggregateProcessor(specInput: AggregationSpecInput = {}): BatchProcessor {
  const spec = parseAggregationSpec(specInput);
  const parser = compileTimestampFormat(spec.timestampFormat);
  const { timestampField, valueField, groupBy, bucket } = spec;
  const distinctField = spec.metrics.includes('count-distinct') ? spec.distinctField : undefined;
  // Records arrive roughly in time order, so the previous bucket usually matches.
  let lastBucketStart = Number.NaN;
  let lastBucket = '';
  // `key` validates the whole record and leaves its value here for `add`, which the engine calls next.
  let keyed: InputRecord | undefined;
  let keyedNumber = 0;
  let keyedDistinct: unknown;

  const key = (record: InputRecord): string => {
    const fields = record.value;
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
      return reject('not-an-object', fields === null ? 'null' : Array.isArray(fields) ? 'array' : typeof fields);
    }
    const rawTimestamp = field(fields, timestampField);
    if (rawTimestamp === undefined || rawTimestamp === null) return reject('missing-field', timestampField);
    const timestamp = parser.parse(rawTimestamp);
    if (!timestamp.ok) return reject('bad-timestamp', `${timestampField}=${preview(rawTimestamp)} ${timestamp.reason}`);

    const rawValue = field(fields, valueField);
    if (rawValue === undefined) return reject('missing-field', valueField);
    const num = toNumber(rawValue);
    if (Number.isNaN(num)) return reject('non-numeric-value', `${valueField}=${preview(rawValue)}`);

    let group: string | undefined;
    if (groupBy !== undefined) {
      const rawGroup = field(fields, groupBy);
      if (rawGroup === undefined || rawGroup === null) return reject('missing-field', groupBy);
      if (typeof rawGroup === 'object') return reject('non-scalar-field', `${groupBy}=${preview(rawGroup)}`);
      group = String(rawGroup);
    }
    let distinctValue: unknown;
    if (distinctField !== undefined) {
      distinctValue = field(fields, distinctField);
      if (distinctValue === undefined || distinctValue === null) return reject('missing-field', distinctField);
      if (typeof distinctValue === 'object') return reject('non-scalar-field', `${distinctField}=${preview(distinctValue)}`);
    }

    const start = bucketStart(timestamp.epochMs, bucket);
    if (start !== lastBucketStart) {
      lastBucketStart = start;
      lastBucket = formatBucket(start, bucket);
    }
    keyed = record;
    keyedNumber = num;
    keyedDistinct = distinctValue;
    return group === undefined ? lastBucket : `${lastBucket}|${group}`;
  };

  return defineReduce<unknown, AggregateState>({
    decode: 'json',
    key,
    init: () => ({
      count: 0, sum: 0, compensation: 0, min: Infinity, max: -Infinity,
      firstOffset: Infinity, lastOffset: -1, distinct: distinctField === undefined ? undefined : new Set(),
    }),
    add(state, record) {
      if (record !== keyed) key(record);
      const num = keyedNumber;
      const offset = record.offset;
      state.count += 1;
      const total = state.sum + num;
      state.compensation += Math.abs(state.sum) >= Math.abs(num) ? state.sum - total + num : num - total + state.sum;
      state.sum = total;
      if (num < state.min) state.min = num;
      if (num > state.max) state.max = num;
      if (offset < state.firstOffset) state.firstOffset = offset;
      if (offset > state.lastOffset) state.lastOffset = offset;
      state.distinct?.add(keyedDistinct);
      return state;
    },
    merge(a, b) {
      const total = a.sum + b.sum;
      return {
        count: a.count + b.count,
        sum: total,
        compensation: a.compensation + b.compensation + (Math.abs(a.sum) >= Math.abs(b.sum) ? a.sum - total + b.sum : b.sum - total + a.sum),
        min: Math.min(a.min, b.min),
        max: Math.max(a.max, b.max),
        firstOffset: b.firstOffset < a.firstOffset ? b.firstOffset : a.firstOffset,
        lastOffset: b.lastOffset > a.lastOffset ? b.lastOffset : a.lastOffset,
        distinct: a.distinct && b.distinct && new Set([...a.distinct, ...b.distinct]),
      };
    },
    emit(state, rowKey, ctx) {
      const sum = state.sum + state.compensation;
      // A bucket never holds '|', so the first one ends it.
      const bar = groupBy === undefined ? -1 : rowKey.indexOf('|');
      return {
        key: rowKey,
        bucket: bar < 0 ? rowKey : rowKey.slice(0, bar),
        ...(bar >= 0 && { group: rowKey.slice(bar + 1) }),
        count: state.count,
        sum,
        min: state.min,
        max: state.max,
        mean: sum / state.count,
        ...(state.distinct !== undefined && { distinct: state.distinct.size }),
        firstOffset: state.firstOffset.toString(),
        lastOffset: state.lastOffset.toString(),
        source: { topic: ctx.topic, partition: ctx.partition, from: ctx.from, to: ctx.to },
      };
    },
  });
}

function reject(code: RejectCode, detail: string): never {
  throw new RecordError(`${code}: ${detail}`);
}

function field(record: object, name: string): unknown {
  // Own properties only: a record without `constructor` must not read Object.prototype's.
  return Object.hasOwn(record, name) ? (record as Record<string, unknown>)[name] : undefined;
}

/** Numbers, or numeric strings as Python's float() reads them in the seed; NaN when not finite. */
function toNumber(raw: unknown): number {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : Number.NaN;
  if (typeof raw === 'string' && NUMERIC_STRING.test(raw)) {
    const n = Number(raw);
    return Number.isFinite(n) ? n : Number.NaN;
  }
  return Number.NaN;
}

function preview(raw: unknown): string {
  const text = JSON.stringify(raw) ?? String(raw);
  return text.length > PREVIEW_LENGTH ? `${text.slice(0, PREVIEW_LENGTH)}…` : text;
}
