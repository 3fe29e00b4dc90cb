import type { Command } from 'commander';
import type { ScannedRecord, ScanStart } from '../kafka';
import { UserError } from '../runtime/errors';
import { onShutdownSignal } from '../runtime/signals';
import { createValueDecoder, toJsonText } from '../runtime/value-decoder';
import { action, cliContext, positiveInt, withKafka } from './context';
import { shortTime } from './format';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A key as text, or `base64:<...>` when it is not UTF-8. */
export function keyText(key: Buffer | null): string | null {
  if (key === null) return null;
  try {
    return utf8.decode(key);
  } catch {
    return `base64:${key.toString('base64')}`;
  }
}

/** Milliseconds of a flag's ISO time (it starts with a date, `2026-12-04…`), or NaN. */
export const isoTimeMs = (text: string): number => (/^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : NaN);

/** `--from`: earliest, latest, an offset, or an ISO time (offsets for times). */
export function parseFrom(text: string): ScanStart {
  if (text === 'earliest' || text === 'latest') return text;
  if (/^\d+$/.test(text)) return { offset: BigInt(text) };
  const ms = isoTimeMs(text);
  if (Number.isNaN(ms)) throw new UserError(`--from "${text}" is neither earliest, latest, an offset nor an ISO time.`, 'e.g. --from earliest, --from 1200 or --from 2026-12-04T09:00:00Z');
  return { timestampMs: ms };
}

/** A whole number ≥ 0 (partitions), or a UserError naming the flag. */
export function partitionFlag(value: string, flag = '--partition'): number {
  if (!/^\d+$/.test(value)) throw new UserError(`${flag} must be a partition number (0 or more), got "${value}".`, `e.g. ${flag} 0`);
  return Number(value);
}

interface TailFlags {
  from: string;
  partition?: string;
  limit?: string;
  follow?: boolean;
  json?: boolean;
}

async function tail(topic: string, flags: TailFlags): Promise<void> {
  const from = parseFrom(flags.from);
  const partition = flags.partition === undefined ? undefined : partitionFlag(flags.partition);
  const limit = flags.limit === undefined ? Infinity : positiveInt(flags.limit, '--limit', '20');
  const decoder = createValueDecoder(cliContext().config.schemaRegistry);
  const stop = new AbortController();
  if (flags.follow) void onShutdownSignal().then(() => stop.abort());
  let printed = 0;
  await withKafka(async (kafka) => {
    if (partition !== undefined && !(await kafka.admin.partitions(topic)).includes(partition)) {
      throw new UserError(`topic "${topic}" has no partition ${partition}.`, 'kto topics list shows how many partitions it has');
    }
    await kafka.scanTopic({
      topic,
      from,
      partitions: partition === undefined ? undefined : [partition],
      follow: flags.follow === true,
      signal: stop.signal,
      onRecord: async (record) => {
        process.stdout.write(`${await render(topic, record, decoder, flags.json === true)}\n`);
        return ++printed < limit;
      },
    });
  });
  if (!flags.json && !flags.follow) process.stderr.write(`${printed} record(s)\n`);
}

async function render(topic: string, r: ScannedRecord, decoder: ReturnType<typeof createValueDecoder>, json: boolean): Promise<string> {
  const decoded = await decoder.decode(r.value);
  const time = new Date(r.timestampMs).toISOString();
  if (json) {
    return toJsonText({ topic, partition: r.partition, offset: r.offset.toString(), timestamp: time, key: keyText(r.key), headers: r.headers, ...decoded });
  }
  const headers = Object.keys(r.headers).length ? `  headers ${JSON.stringify(r.headers)}` : '';
  const value = decoded.format === 'json' || decoded.format === 'avro' ? toJsonText(decoded.value) : decoded.format === 'null' ? '(null)' : `${decoded.format === 'base64' ? 'base64:' : ''}${decoded.value}`;
  const note = decoded.format === 'base64' && decoded.error ? `  (${decoded.error})` : '';
  return `${r.partition}:${r.offset}  ${shortTime(time)}  key ${keyText(r.key) ?? '(none)'}${headers}\n  ${value}${note}`;
}

/** Adds `kto topics tail` to the `topics` group. */
export function registerTailCommand(topics: Command): void {
  topics
    .command('tail')
    .description('print a topic\'s records as a read_committed consumer sees them, values decoded (JSON, Avro through the schema registry, else text or base64); joins and commits no consumer group of yours')
    .argument('<topic>')
    .option('--from <where>', 'earliest | latest | <offset> | <ISO time>', 'earliest')
    .option('--partition <n>', 'only this partition')
    .option('--limit <n>', 'stop after this many records')
    .option('--follow', 'keep printing new records until Ctrl-C (else stop at the end offsets seen at the start)')
    .option('--json', 'one JSON object per line: topic, partition, offset, timestamp, key, headers, format, value')
    .action(action(tail));
}
