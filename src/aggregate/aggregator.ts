import { aggregateProcessor } from '../processors/aggregate';
import type { ProcessorContext } from '../processors/define';
import { createProcessorRun, type RecordSource } from '../processors/engine';
import type { AggregationSpecInput } from './spec';

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

const ACCEPTED: AddResult = { ok: true };
/** The aggregator knows no range: the `source` the processor adds to each row is dropped. */
const NO_RANGE: ProcessorContext = { topic: '', partition: -1, from: '', to: '', pipeline: '', options: undefined };

/**
 * A streaming aggregator over values one at a time, for callers outside the batch step: the
 * built-in aggregation processor (src/processors/aggregate.ts) on the processor engine. Memory
 * grows with the number of groups (buckets × groupBy values), not with the number of records —
 * except for `count-distinct`, which keeps a Set of the distinct values seen per group.
 * @throws AggregationSpecError when `spec` is invalid.
 */
export function createAggregator(specInput: AggregationSpecInput = {}): Aggregator {
  let rows: AggregateRow[] = [];
  const run = createProcessorRun(aggregateProcessor(specInput), NO_RANGE, (output) => {
    const { source: _source, ...row } = JSON.parse(output.value.toString('utf8')) as AggregateRow & { source: unknown };
    rows.push(row);
  });
  // A one-record source, refilled for each value: the engine reads records from sources.
  let value: string | Buffer | null = null;
  let offset: bigint | number = 0;
  const one: RecordSource = {
    offset: () => offset,
    text: () => (value === null || typeof value === 'string' ? value : value.toString('utf8')),
    value: () => (value === null || Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8')),
  };

  return {
    add(recordValue, recordOffset) {
      if (recordOffset < 0 || (typeof recordOffset === 'number' && !Number.isSafeInteger(recordOffset))) {
        throw new RangeError(`offset must be a whole number from 0 to 2^53 - 1 (or a bigint), got ${recordOffset}`);
      }
      value = recordValue;
      offset = recordOffset;
      const reason = run.add(one, 0);
      return reason === null ? ACCEPTED : { ok: false, code: reason.slice(0, reason.indexOf(':')) as RejectCode, reason };
    },
    results() {
      rows = [];
      run.finish();
      return rows;
    },
    get groupCount() {
      return run.groups;
    },
    get accepted() {
      return run.accepted;
    },
    get rejected() {
      return run.rejected;
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
