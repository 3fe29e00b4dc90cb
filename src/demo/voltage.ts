import type { KafkaIo } from '../kafka';
import type { BatchPipelineConfig } from '../project/pipelines-file';
import { mulberry32 } from './prng';

/**
 * Deterministic sample of the Airflow DAG's input: household power readings such as
 * `{"datetime":"23/12/2006 16:52:00","voltage":239.94}`, one a minute per partition, plus a few
 * malformed records so the error path shows. The same options always give the same records.
 */

export interface VoltageSampleOptions {
  /** Records in total, malformed ones included. @default 100_000 */
  records?: number;
  /** Record i goes to partition i % partitions. @default 8 */
  partitions?: number;
  /** PRNG seed. @default 2006 */
  seed?: number;
  /** Records replaced by malformed ones (bad JSON, missing field, bad date, in turn). @default 6 */
  malformed?: number;
  /** Timestamp of each partition's first reading, UTC. @default 2006-12-16T17:24:00Z (the dataset's first row) */
  start?: Date;
}

export interface VoltageRecord {
  partition: number;
  key: string;
  value: string;
  /** Why the record is malformed; absent for good records. */
  malformed?: 'invalid-json' | 'missing-field' | 'bad-timestamp';
}

/** The demo pipeline; kto.pipelines.yaml at the repo root holds the same definition (a unit test keeps them equal). */
export const VOLTAGE_DAILY_PIPELINE = {
  name: 'voltage-daily',
  topic: 'kto.demo.voltage',
  outputTopic: 'kto.demo.voltage.daily',
  groupId: 'kto-voltage-daily',
  errorTopic: 'kto.demo.voltage.errors',
} as const satisfies Partial<BatchPipelineConfig>;

/** Partitions of the demo topics. */
export const VOLTAGE_DEMO_PARTITIONS = 8;

function withDefaults(o: VoltageSampleOptions) {
  const partitions = o.partitions ?? 8;
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  return {
    records: o.records ?? 100_000,
    partitions,
    seed: o.seed ?? 2006,
    malformed: o.malformed ?? 6,
    start: o.start ?? new Date(Date.UTC(2006, 11, 16, 17, 24, 0)),
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `dd/MM/yyyy HH:mm:ss` in UTC, the seed's format. */
export function formatSeedTimestamp(d: Date): string {
  return `${pad(d.getUTCDate())}/${pad(d.getUTCMonth() + 1)}/${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

const MALFORMED_KINDS = ['invalid-json', 'missing-field', 'bad-timestamp'] as const;

/** Generates the sample lazily, in offset order per partition. */
export function* voltageSample(options: VoltageSampleOptions = {}): Generator<VoltageRecord> {
  const o = withDefaults(options);
  const random = mulberry32(o.seed);
  // Spread the malformed records evenly so every kind lands in the data, not only at its start.
  const every = o.malformed > 0 ? Math.max(1, Math.floor(o.records / o.malformed)) : Infinity;
  let bad = 0;
  for (let i = 0; i < o.records; i++) {
    const partition = i % o.partitions;
    const minute = Math.floor(i / o.partitions);
    const at = new Date(o.start.getTime() + minute * 60_000);
    const key = `meter-${partition}`;
    // A slow daily swing around 240 V plus noise, kept inside 230-250 V.
    const hour = at.getUTCHours() + at.getUTCMinutes() / 60;
    const raw = 240 + 4 * Math.sin(((hour - 6) / 24) * 2 * Math.PI) + (random() - 0.5) * 8 + partition * 0.25;
    const voltage = Math.round(Math.min(250, Math.max(230, raw)) * 100) / 100;
    const datetime = formatSeedTimestamp(at);
    if (bad < o.malformed && i % every === every - 1) {
      const kind = MALFORMED_KINDS[bad++ % MALFORMED_KINDS.length];
      const value =
        kind === 'invalid-json'
          ? `{"datetime":"${datetime}","voltage":`
          : kind === 'missing-field'
            ? JSON.stringify({ datetime })
            : JSON.stringify({ datetime: datetime.replace(/^\d\d\/\d\d/, '32/13'), voltage });
      yield { partition, key, value, malformed: kind };
    } else {
      yield { partition, key, value: JSON.stringify({ datetime, voltage }) };
    }
  }
}

export interface ProduceVoltageSampleOptions extends VoltageSampleOptions {
  topic: string;
}

export interface ProducedSample {
  records: number;
  malformed: number;
}

/**
 * Writes the sample to `topic` (which must have at least `partitions` partitions), record i to
 * partition i % partitions. Used by `kto demo` and the benchmarks.
 */
export async function produceVoltageSample(kafka: KafkaIo, options: ProduceVoltageSampleOptions): Promise<ProducedSample> {
  let records = 0;
  let malformed = 0;
  await kafka.produce(
    (function* () {
      for (const r of voltageSample(options)) {
        records++;
        if (r.malformed) malformed++;
        yield { topic: options.topic, partition: r.partition, key: r.key, value: r.value };
      }
    })(),
  );
  return { records, malformed };
}
