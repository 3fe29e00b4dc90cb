import { parseAggregationSpec, type AggregationSpecInput } from './spec';
import { bucketStart, compileTimestampFormat, formatBucket } from './timestamp';

/** Stable machine-readable rejection codes (safe as metric labels and header values). */
export type RejectCode =
  | 'invalid-json'
  | 'not-an-object'
  | 'missing-field'
  | 'bad-timestamp'
  | 'non-numeric-value'
  | 'non-scalar-field';

/** `reason` is `<code>: <detail>`, e.g. `missing-field: datetime`. */
export type AddResult = { ok: true } | { ok: false; code: RejectCode; reason: string };

/**
 * One output row. count, sum, min and max are the mergeable parts; mean is derived from
 * them. Offsets are the smallest and largest input offsets that contributed.
 */
export interface AggregateRow {
  /** `<bucket>` or `<bucket>|<group>`; rows sort by it. */
  key: string;
  /** `YYYY-MM-DD` (day) or `YYYY-MM-DDTHH` (hour), UTC. */
  bucket: string;
  /** String form of the `groupBy` field's value, when the spec sets `groupBy`. */
  group?: string;
  count: number;
  sum: number;
  min: number;
  max: number;
  mean: number;
  /** Distinct values of `distinctField`, when `count-distinct` is requested. Not mergeable. */
  distinct?: number;
  firstOffset: string;
  lastOffset: string;
}

export interface Aggregator {
  /**
   * Folds one Kafka record value in. A rejected record leaves every aggregate unchanged.
   * The offset is a bigint, or a number when it is below 2^53 (as staging reads it back).
   */
  add(value: string | Buffer | null, offset: bigint | number): AddResult;
  /** Current rows sorted by key. Does not reset the aggregator. */
  results(): AggregateRow[];
  readonly groupCount: number;
  readonly accepted: number;
  readonly rejected: number;
}

interface GroupState {
  key: string;
  bucket: string;
  group: string | undefined;
  count: number;
  // Neumaier compensated sum: `sum + compensation` is the running total.
  sum: number;
  compensation: number;
  min: number;
  max: number;
  firstOffset: bigint | number;
  lastOffset: bigint | number;
  distinct: Set<unknown> | undefined;
}

const ACCEPTED: AddResult = { ok: true };
const NUMERIC_STRING = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
const PREVIEW_LENGTH = 64;

/**
 * Creates a streaming aggregator. Memory grows with the number of groups (buckets × groupBy
 * values), not with the number of records — except for `count-distinct`, which keeps a Set of
 * the distinct values seen per group and so grows with them.
 * @throws AggregationSpecError when `spec` is invalid.
 */
export function createAggregator(specInput: AggregationSpecInput = {}): Aggregator {
  const spec = parseAggregationSpec(specInput);
  const parser = compileTimestampFormat(spec.timestampFormat);
  const { timestampField, valueField, groupBy, bucket } = spec;
  const distinctField = spec.metrics.includes('count-distinct') ? spec.distinctField : undefined;
  const groups = new Map<string, GroupState>();
  let accepted = 0;
  let rejected = 0;
  // Records arrive roughly in time order, so the previous bucket (and group) usually matches.
  let lastBucketStart = Number.NaN;
  let lastBucket = '';
  let lastGroup: GroupState | undefined;

  const reject = (code: RejectCode, detail: string): AddResult => {
    rejected += 1;
    return { ok: false, code, reason: `${code}: ${detail}` };
  };

  const add = (value: string | Buffer | null, offset: bigint | number): AddResult => {
    if (offset < 0 || (typeof offset === 'number' && !Number.isSafeInteger(offset))) {
      throw new RangeError(`offset must be a whole number from 0 to 2^53 - 1 (or a bigint), got ${offset}`);
    }
    if (value === null) return reject('invalid-json', 'message value is null (tombstone)');
    let record: unknown;
    try {
      record = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
    } catch (err) {
      return reject('invalid-json', (err as Error).message);
    }
    if (record === null || typeof record !== 'object' || Array.isArray(record)) {
      return reject('not-an-object', record === null ? 'null' : Array.isArray(record) ? 'array' : typeof record);
    }
    const fields = record as Record<string, unknown>;

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
      lastGroup = undefined;
    }
    const key = group === undefined ? lastBucket : `${lastBucket}|${group}`;
    let state = lastGroup !== undefined && lastGroup.key === key ? lastGroup : groups.get(key);
    if (state === undefined) {
      state = {
        key, bucket: lastBucket, group, count: 0, sum: 0, compensation: 0, min: num, max: num,
        firstOffset: offset, lastOffset: offset, distinct: distinctField === undefined ? undefined : new Set(),
      };
      groups.set(key, state);
    }
    lastGroup = state;

    state.count += 1;
    const total = state.sum + num;
    state.compensation += Math.abs(state.sum) >= Math.abs(num) ? state.sum - total + num : num - total + state.sum;
    state.sum = total;
    if (num < state.min) state.min = num;
    if (num > state.max) state.max = num;
    if (offset < state.firstOffset) state.firstOffset = offset;
    if (offset > state.lastOffset) state.lastOffset = offset;
    state.distinct?.add(distinctValue);
    accepted += 1;
    return ACCEPTED;
  };

  const results = (): AggregateRow[] =>
    [...groups.values()]
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
      .map((g) => {
        const sum = g.sum + g.compensation;
        return {
          key: g.key,
          bucket: g.bucket,
          ...(g.group !== undefined && { group: g.group }),
          count: g.count,
          sum,
          min: g.min,
          max: g.max,
          mean: sum / g.count,
          ...(g.distinct !== undefined && { distinct: g.distinct.size }),
          firstOffset: g.firstOffset.toString(),
          lastOffset: g.lastOffset.toString(),
        };
      });

  return {
    add,
    results,
    get groupCount() {
      return groups.size;
    },
    get accepted() {
      return accepted;
    },
    get rejected() {
      return rejected;
    },
  };
}

/**
 * Combines two rows of the same key, e.g. partial results of two runs over disjoint offset
 * ranges. `distinct` cannot be combined from two counts (the value sets may overlap), so the
 * merged row omits it.
 * @throws Error when the keys differ.
 */
export function mergeRows(a: AggregateRow, b: AggregateRow): AggregateRow {
  if (a.key !== b.key) throw new Error(`cannot merge aggregate rows of different keys: "${a.key}" and "${b.key}"`);
  const count = a.count + b.count;
  const sum = a.sum + b.sum;
  return {
    key: a.key,
    bucket: a.bucket,
    ...(a.group !== undefined && { group: a.group }),
    count,
    sum,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    mean: sum / count,
    firstOffset: compareOffsets(a.firstOffset, b.firstOffset) <= 0 ? a.firstOffset : b.firstOffset,
    lastOffset: compareOffsets(a.lastOffset, b.lastOffset) >= 0 ? a.lastOffset : b.lastOffset,
  };
}

/** Merges several row lists (e.g. one per run) by key; the result is sorted by key. */
export function mergeResults(...rowSets: AggregateRow[][]): AggregateRow[] {
  const byKey = new Map<string, AggregateRow>();
  for (const rows of rowSets) {
    for (const row of rows) {
      const seen = byKey.get(row.key);
      byKey.set(row.key, seen === undefined ? row : mergeRows(seen, row));
    }
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Orders canonical decimal offsets (no leading zeros) without BigInt allocation. */
export function compareOffsets(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function field(record: Record<string, unknown>, name: string): unknown {
  // Own properties only: a record without `constructor` must not read Object.prototype's.
  return Object.hasOwn(record, name) ? record[name] : undefined;
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
