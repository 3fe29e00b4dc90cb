/**
 * Timestamp parsing and time buckets for the aggregator.
 *
 * Every timestamp is interpreted as UTC. The seed's records (`23/12/2006 16:52:00`) carry
 * no zone, and the Airflow DAG kto replaces grouped them by calendar day without one, so
 * UTC keeps the buckets identical on every worker whatever its local zone. ISO strings that
 * do carry an offset (`Z`, `+01:00`) are converted to UTC before bucketing.
 *
 * Parsers are compiled once per format and run on every record of a batch (~1M), so the
 * pattern path reads digits by char code and allocates only its result.
 */

export type TimestampResult = { ok: true; epochMs: number } | { ok: false; reason: string };

export interface TimestampParser {
  readonly format: string;
  /** Parses one raw field value (a string, or a number for the epoch formats). */
  parse(raw: unknown): TimestampResult;
}

export type Bucket = 'day' | 'hour';

export class TimestampFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimestampFormatError';
  }
}

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;
// Years 0000..9999 keep bucket keys fixed-width, so sorting keys as strings sorts them in time.
const MIN_EPOCH_MS = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
const MAX_EPOCH_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

type Field = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'millis';

// Longest first so that `SSS` is not read as three stray `S`.
const TOKENS: ReadonlyArray<readonly [string, Field]> = [
  ['yyyy', 'year'],
  ['SSS', 'millis'],
  ['MM', 'month'],
  ['dd', 'day'],
  ['HH', 'hour'],
  ['mm', 'minute'],
  ['ss', 'second'],
];
const TOKEN_LETTERS = 'yMdHmsS';
const FIELD_SLOTS: readonly Field[] = ['year', 'month', 'day', 'hour', 'minute', 'second', 'millis'];

/**
 * Compiles a format into a parser. Patterns use the tokens `yyyy MM dd HH mm ss SSS`
 * (fixed width, zero-padded) and literal characters; `yyyy`, `MM` and `dd` are required.
 * Also accepts `iso` (ISO-8601 strings; no offset means UTC), `epoch-ms` and `epoch-s`
 * (numbers, or strings of decimal digits).
 * @throws TimestampFormatError when the format cannot be compiled.
 */
export function compileTimestampFormat(format: string): TimestampParser {
  if (format === 'iso') return { format, parse: parseIso };
  if (format === 'epoch-ms') return { format, parse: (raw) => parseEpoch(raw, 1) };
  if (format === 'epoch-s') return { format, parse: (raw) => parseEpoch(raw, 1000) };
  return compilePattern(format);
}

function compilePattern(format: string): TimestampParser {
  // Parallel arrays of numbers keep the per-record loop free of object lookups.
  const fieldNames: Field[] = [];
  const fieldStarts: number[] = [];
  const fieldWidths: number[] = [];
  const literalPositions: number[] = [];
  const literalCodes: number[] = [];
  let i = 0;
  while (i < format.length) {
    const token = TOKENS.find(([text]) => format.startsWith(text, i));
    if (token) {
      const [text, field] = token;
      if (fieldNames.includes(field)) throw new TimestampFormatError(`timestamp format "${format}" uses "${text}" twice`);
      fieldNames.push(field);
      fieldStarts.push(i);
      fieldWidths.push(text.length);
      i += text.length;
    } else if (TOKEN_LETTERS.includes(format[i])) {
      throw new TimestampFormatError(
        `timestamp format "${format}" has an unknown token at position ${i} ("${format[i]}"): ` +
          'use yyyy, MM, dd, HH, mm, ss, SSS, or one of iso, epoch-ms, epoch-s',
      );
    } else {
      literalPositions.push(i);
      literalCodes.push(format.charCodeAt(i));
      i += 1;
    }
  }
  for (const required of ['year', 'month', 'day'] as const) {
    if (!fieldNames.includes(required)) {
      throw new TimestampFormatError(`timestamp format "${format}" must contain yyyy, MM and dd (or be iso, epoch-ms, epoch-s)`);
    }
  }
  const length = format.length;
  const fieldCount = fieldNames.length;
  const fieldSlots = fieldNames.map((name) => FIELD_SLOTS.indexOf(name));
  const literalCount = literalPositions.length;

  const parse = (raw: unknown): TimestampResult => {
    if (typeof raw !== 'string') return fail(`expected a string in format ${format}, got ${typeof raw}`);
    if (raw.length !== length) return fail(`does not match format ${format}`);
    for (let l = 0; l < literalCount; l++) {
      if (raw.charCodeAt(literalPositions[l]) !== literalCodes[l]) return fail(`does not match format ${format}`);
    }
    // Every format sets year, month and day (the compiler requires them); the rest default to 0.
    let year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0, millis = 0;
    for (let f = 0; f < fieldCount; f++) {
      const start = fieldStarts[f];
      const end = start + fieldWidths[f];
      let n = 0;
      for (let c = start; c < end; c++) {
        const digit = raw.charCodeAt(c) - 48;
        if (!(digit >= 0 && digit <= 9)) return fail(`does not match format ${format}`);
        n = n * 10 + digit;
      }
      const slot = fieldSlots[f];
      if (slot === 0) year = n;
      else if (slot === 1) month = n;
      else if (slot === 2) day = n;
      else if (slot === 3) hour = n;
      else if (slot === 4) minute = n;
      else if (slot === 5) second = n;
      else millis = n;
    }
    return compose(year, month, day, hour, minute, second, millis, 0);
  };
  return { format, parse };
}

const ISO_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

function parseIso(raw: unknown): TimestampResult {
  if (typeof raw !== 'string') return fail(`expected an ISO-8601 string, got ${typeof raw}`);
  const m = ISO_PATTERN.exec(raw);
  if (!m) return fail('is not an ISO-8601 date-time (e.g. 2006-12-23T16:52:00Z)');
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const offsetHours = Number(m[10]);
    const offsetMins = Number(m[11]);
    if (offsetHours > 23 || offsetMins > 59) return fail(`has an impossible UTC offset ${m[9]}${m[10]}:${m[11]}`);
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  // Fractions beyond milliseconds are truncated, as Date does.
  const millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  return compose(
    Number(m[1]), Number(m[2]), Number(m[3]),
    m[4] === undefined ? 0 : Number(m[4]), m[5] === undefined ? 0 : Number(m[5]), m[6] === undefined ? 0 : Number(m[6]),
    millis, offsetMinutes,
  );
}

const DECIMAL_INTEGER = /^-?\d+$/;

function parseEpoch(raw: unknown, msPerUnit: number): TimestampResult {
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && DECIMAL_INTEGER.test(raw)) n = Number(raw);
  else return fail(`expected an epoch number, got ${typeof raw}`);
  if (!Number.isFinite(n)) return fail('is not a finite number');
  // Rounding absorbs float noise such as 1.001 * 1000 = 1000.9999999999999.
  const epochMs = Math.round(n * msPerUnit);
  if (epochMs < MIN_EPOCH_MS || epochMs > MAX_EPOCH_MS) return fail('is outside years 0000..9999');
  return { ok: true, epochMs };
}

function compose(
  year: number, month: number, day: number, hour: number, minute: number, second: number, millis: number,
  offsetMinutes: number,
): TimestampResult {
  if (month < 1 || month > 12) return fail(`month ${month} is not 1..12`);
  const monthDays = daysInMonth(year, month);
  if (day < 1 || day > monthDays) return fail(`day ${day} is not 1..${monthDays} for ${pad(year, 4)}-${pad(month, 2)}`);
  if (hour > 23) return fail(`hour ${hour} is not 0..23`);
  if (minute > 59) return fail(`minute ${minute} is not 0..59`);
  if (second > 59) return fail(`second ${second} is not 0..59`);
  const epochMs =
    daysFromCivil(year, month, day) * MS_PER_DAY + hour * MS_PER_HOUR + minute * 60_000 + second * 1000 + millis -
    offsetMinutes * 60_000;
  if (epochMs < MIN_EPOCH_MS || epochMs > MAX_EPOCH_MS) return fail('is outside years 0000..9999');
  return { ok: true, epochMs };
}

function fail(reason: string): TimestampResult {
  return { ok: false, reason };
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm; Date.UTC maps years < 100 to 19xx). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const monthFromMarch = (month + 9) % 12;
  const dayOfYear = Math.floor((153 * monthFromMarch + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** Start (epoch ms, UTC) of the bucket holding `epochMs`. */
export function bucketStart(epochMs: number, bucket: Bucket): number {
  const size = bucket === 'day' ? MS_PER_DAY : MS_PER_HOUR;
  return Math.floor(epochMs / size) * size;
}

/** Bucket label: day → `YYYY-MM-DD`, hour → `YYYY-MM-DDTHH` (UTC). */
export function formatBucket(epochMs: number, bucket: Bucket): string {
  const iso = new Date(bucketStart(epochMs, bucket)).toISOString();
  return bucket === 'day' ? iso.slice(0, 10) : iso.slice(0, 13);
}
