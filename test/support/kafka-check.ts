import { Kafka, logLevel, type Admin } from 'kafkajs';

/**
 * An independent view of what landed in Kafka, for exactly-once checks: a plain kafkajs
 * read_committed consumer and a straightforward recomputation, sharing no code with kto.
 */
export interface TopicRecord {
  partition: number;
  offset: bigint;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

/**
 * The end offsets a read_committed reader can reach (kafkajs lists them at that isolation level:
 * the last stable offsets), once they hold still. A transaction's commit returns before its
 * markers are written, so for a moment right after a commit its records sit above the stable
 * offset, and a reader that stopped there would miss them.
 */
async function settledEndOffsets(admin: Admin, topic: string) {
  const key = (marks: { partition: number; high: string }[]) => marks.map((m) => `${m.partition}:${m.high}`).sort().join(',');
  let marks = await admin.fetchTopicOffsets(topic);
  for (let still = 0, waited = 0; still < SETTLED_POLLS; waited++) {
    if (waited > 150) throw new Error(`the end offsets of ${topic} kept moving for 30 s`);
    await new Promise((r) => setTimeout(r, 200));
    const next = await admin.fetchTopicOffsets(topic);
    still = key(next) === key(marks) ? still + 1 : 0;
    marks = next;
  }
  return marks;
}

/** Polls 200 ms apart that must agree before the end offsets count as settled. */
const SETTLED_POLLS = 5;

export async function readTopic(brokers: string[], topic: string): Promise<TopicRecord[]> {
  const kafka = new Kafka({ brokers, clientId: 'kto-test-check', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const marks = await settledEndOffsets(admin, topic);
  const groupId = `kto-test-check-${topic}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const remaining = new Map(marks.filter((m) => BigInt(m.high) > BigInt(m.low)).map((m) => [m.partition, BigInt(m.high) - 1n]));
  const records: TopicRecord[] = [];
  if (remaining.size > 0) {
    const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200 });
    await consumer.connect();
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const reached = (partition: number, last: string) => {
      const end = remaining.get(partition);
      if (end !== undefined && BigInt(last) >= end) remaining.delete(partition);
      if (remaining.size === 0) done();
    };
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => reached(payload.partition, payload.lastOffset));
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          records.push({
            partition: batch.partition,
            offset: BigInt(m.offset),
            key: m.key?.toString() ?? null,
            value: m.value?.toString() ?? null,
            headers: Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])),
          });
        }
        reached(batch.partition, batch.lastOffset());
      },
    });
    await Promise.race([finished, new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out reading ${topic}`)), 60_000))]);
    await consumer.disconnect();
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  await admin.disconnect();
  return records.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : 1));
}

export interface DayTotals {
  count: number;
  sum: number;
}

/** partition → day (yyyy-MM-dd) → totals, from raw seed-style records; malformed ones are skipped. */
export type Totals = Map<number, Map<string, DayTotals>>;

const SEED_TIME = /^(\d\d)\/(\d\d)\/(\d{4}) \d\d:\d\d:\d\d$/;

/** `partition/offset` of every record kto's processors reject (broken JSON, no voltage), sorted: the dead letters expected. */
export function malformedOffsets(input: TopicRecord[]): string[] {
  const valid = new Set(readings(input).map((r) => `${r.partition}/${r.offset}`));
  return input.map((r) => `${r.partition}/${r.offset}`).filter((k) => !valid.has(k)).sort();
}

/** The readings kto's processors accept: partition, day (yyyy-MM-dd) and voltage of each well-formed record. */
function readings(input: TopicRecord[]): Array<{ partition: number; offset: bigint; day: string; voltage: number }> {
  const valid = [];
  for (const r of input) {
    let parsed: { datetime?: unknown; voltage?: unknown };
    try {
      parsed = JSON.parse(r.value ?? '');
    } catch {
      continue;
    }
    const m = typeof parsed?.datetime === 'string' ? SEED_TIME.exec(parsed.datetime) : null;
    const voltage = typeof parsed?.voltage === 'number' ? parsed.voltage : NaN;
    if (m && Number.isFinite(voltage)) valid.push({ partition: r.partition, offset: r.offset, day: `${m[3]}-${m[2]}-${m[1]}`, voltage });
  }
  return valid;
}

export function expectedDailyTotals(input: TopicRecord[]): Totals {
  const totals: Totals = new Map();
  for (const r of readings(input)) add(totals, r.partition, r.day, 1, r.voltage);
  return totals;
}

/** Like {@link expectedDailyTotals} with the day's peak voltage in `sum`: what the voltage-peaks processor must output. */
export function expectedDailyPeaks(input: TopicRecord[]): Totals {
  const totals: Totals = new Map();
  for (const r of readings(input)) add(totals, r.partition, r.day, 1, r.voltage, Math.max);
  return totals;
}

/** The voltage-peaks processor's output rows (`{ day: 'dd/mm/yyyy', readings, peak }`) per source partition and day. */
export function outputDailyPeaks(output: TopicRecord[]): Totals {
  const totals: Totals = new Map();
  for (const r of output) {
    const row = JSON.parse(r.value ?? '{}') as { day: string; readings: number; peak: number };
    const [d, m, y] = row.day.split('/');
    add(totals, Number(r.headers['kto-source-partition']), `${y}-${m}-${d}`, row.readings, row.peak, Math.max);
  }
  return totals;
}

/** Sums the mergeable parts of every output row per source partition and day. */
export function outputDailyTotals(output: TopicRecord[]): Totals {
  const totals: Totals = new Map();
  for (const r of output) {
    const row = JSON.parse(r.value ?? '{}') as { bucket: string; count: number; sum: number };
    add(totals, Number(r.headers['kto-source-partition']), row.bucket, row.count, row.sum);
  }
  return totals;
}

function add(totals: Totals, partition: number, day: string, count: number, value: number, combine = (a: number, b: number) => a + b): void {
  let days = totals.get(partition);
  if (!days) totals.set(partition, (days = new Map()));
  const t = days.get(day);
  days.set(day, t ? { count: t.count + count, sum: combine(t.sum, value) } : { count, sum: value });
}

/**
 * Checks that the input ranges named by the output and dead letters tile each source partition
 * from 0 with no gap and no overlap, and that no range landed twice, and returns them. A range
 * makes each of its rows once (one per group, one dead letter per source offset), so a row
 * seen twice under the same range is a second landing of it, back to back or interleaved.
 */
export function outputRanges(output: TopicRecord[], deadLetters: TopicRecord[] = []): Map<number, { from: bigint; to: bigint }[]> {
  const byPartition = new Map<number, Map<string, { from: bigint; to: bigint }>>();
  const seen = new Set<string>();
  for (const r of [...output, ...deadLetters]) {
    const p = Number(r.headers['kto-source-partition']);
    const range = { from: BigInt(r.headers['kto-offset-from']), to: BigInt(r.headers['kto-offset-to']) };
    const row = `${p}/${range.from}-${range.to}/${r.headers['kto-source-offset'] ?? ''}/${r.key}/${r.value}`;
    if (seen.has(row)) throw new Error(`partition ${p}: range ${range.from}-${range.to} landed twice (row ${r.value} appears again at offset ${r.offset})`);
    seen.add(row);
    if (!byPartition.has(p)) byPartition.set(p, new Map());
    byPartition.get(p)!.set(`${range.from}-${range.to}`, range);
  }
  const result = new Map<number, { from: bigint; to: bigint }[]>();
  for (const [p, ranges] of byPartition) {
    const sorted = [...ranges.values()].sort((a, b) => (a.from < b.from ? -1 : 1));
    sorted.forEach((r, i) => {
      const expectedFrom = i === 0 ? 0n : sorted[i - 1].to + 1n;
      if (r.from !== expectedFrom) throw new Error(`partition ${p}: range ${r.from}-${r.to} should start at ${expectedFrom} (gap or overlap)`);
    });
    result.set(p, sorted);
  }
  return result;
}

/** Compares totals; returns a list of differences (empty when equal). */
export function diffTotals(expected: Totals, actual: Totals): string[] {
  const problems: string[] = [];
  const partitions = new Set([...expected.keys(), ...actual.keys()]);
  for (const p of partitions) {
    const e = expected.get(p) ?? new Map<string, DayTotals>();
    const a = actual.get(p) ?? new Map<string, DayTotals>();
    for (const day of new Set([...e.keys(), ...a.keys()])) {
      const x = e.get(day);
      const y = a.get(day);
      if (!x || !y || x.count !== y.count || Math.abs(x.sum - y.sum) > 1e-6 * Math.max(1, Math.abs(x.sum))) {
        problems.push(`p${p} ${day}: expected ${JSON.stringify(x)} got ${JSON.stringify(y)}`);
      }
    }
  }
  return problems;
}
