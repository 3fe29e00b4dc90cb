import type { Command } from 'commander';
import { projectCommandRegistry } from '../commands/registry';
import { missingRefs, parseDeadLetterRef, readDeadLetters, type DeadLetter, type DeadLetterFilter } from '../dispatcher/dead-letters';
import { createCommandDecoder } from '../dispatcher/decode';
import { replayDeadLetters, type ReplayOutcome } from '../dispatcher/replay';
import { loadPipelines } from '../project/load';
import { UserError } from '../runtime/errors';
import { createValueDecoder, toJsonText } from '../runtime/value-decoder';
import { action, cliContext, withKafka } from './context';
import { newTable, shortTime } from './format';
import { isoTimeMs, keyText, partitionFlag } from './topics-tail';

interface FilterFlags {
  reason?: string;
  command?: string;
  since?: string;
  until?: string;
  partition?: string;
  json?: boolean;
}

function timeFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = isoTimeMs(value);
  if (Number.isNaN(ms)) throw new UserError(`${flag} "${value}" is not an ISO time.`, `e.g. ${flag} 2026-12-04T09:00:00Z`);
  return ms;
}

function filterOf(flags: FilterFlags, refs: string[] = []): DeadLetterFilter {
  return {
    reason: flags.reason,
    command: flags.command,
    sinceMs: timeFlag(flags.since, '--since'),
    untilMs: timeFlag(flags.until, '--until'),
    sourcePartition: flags.partition === undefined ? undefined : partitionFlag(flags.partition),
    refs: refs.length ? refs.map(parseDeadLetterRef) : undefined,
  };
}

const deadLetterTopic = (): string => cliContext().config.dispatcher.deadLetterTopic;

async function read(filter: DeadLetterFilter): Promise<DeadLetter[]> {
  const decoder = createValueDecoder(cliContext().config.schemaRegistry);
  const found = await withKafka((kafka) => readDeadLetters(kafka, deadLetterTopic(), filter, decoder));
  const missing = filter.refs ? missingRefs(filter.refs, found) : [];
  if (missing.length) throw new UserError(`no dead letter at ${missing.join(', ')} of ${deadLetterTopic()}.`, 'kto dlq list shows the refs (<partition>:<offset>) of the dead letters there are');
  return found;
}

const sourceText = (dl: DeadLetter): string => `${dl.source.topic ?? '?'}[${dl.source.partition ?? '?'}]@${dl.source.offset ?? '?'}`;

/** A dead letter without its body, for lists. */
const summaryOf = (dl: DeadLetter) => ({
  ref: dl.ref,
  partition: dl.partition,
  offset: dl.offset.toString(),
  time: new Date(dl.timestampMs).toISOString(),
  reason: dl.reason,
  command: dl.command,
  error: dl.error,
  source: dl.source,
  truncated: dl.truncated,
});

async function list(flags: FilterFlags): Promise<void> {
  const found = await read(filterOf(flags));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(found.map(summaryOf))}\n`);
    return;
  }
  const table = newTable(['ref', 'dead-lettered', 'reason', 'command', 'source', 'error']);
  for (const dl of found) table.push([dl.ref, shortTime(new Date(dl.timestampMs).toISOString()), dl.reason, dl.command ?? '-', sourceText(dl), dl.error.length > 60 ? `${dl.error.slice(0, 59)}…` : dl.error]);
  process.stdout.write(`${table.toString()}\n${found.length} dead letter(s) in ${deadLetterTopic()}\n`);
}

async function show(ref: string, flags: { json?: boolean }): Promise<void> {
  const [dl] = await read({ refs: [parseDeadLetterRef(ref)] });
  if (flags.json) {
    process.stdout.write(`${toJsonText({ ...summaryOf(dl), key: keyText(dl.key), headers: dl.headers, body: dl.decoded })}\n`);
    return;
  }
  const lines = [
    `dead letter ${dl.ref} of ${deadLetterTopic()}, written ${shortTime(new Date(dl.timestampMs).toISOString())}`,
    `reason:  ${dl.reason}${dl.truncated ? ' (truncated copy)' : ''}`,
    `error:   ${dl.error}`,
    `source:  ${sourceText(dl)}`,
    `command: ${dl.command ?? '-'}`,
    `key:     ${keyText(dl.key) ?? '(none)'}`,
    'headers:',
    ...Object.entries(dl.headers).map(([k, v]) => `  ${k}: ${v}`),
    `body (${dl.decoded.format}${dl.decoded.format === 'avro' ? `, schema id ${dl.decoded.schemaId}` : ''}):`,
    dl.decoded.format === 'json' || dl.decoded.format === 'avro' ? toJsonText(dl.decoded.value, 2) : String(dl.decoded.value),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function replay(refs: string[], flags: FilterFlags & { dryRun?: boolean; to?: string }): Promise<void> {
  const filter = filterOf(flags, refs);
  if (!filter.refs && Object.values(filter).every((v) => v === undefined)) {
    throw new UserError('say which dead letters to replay.', 'give refs (kto dlq replay 0:42 0:43) or filters (--reason unknown-command, --command, --since, --until, --partition); try --dry-run first');
  }
  const { config } = cliContext();
  const topic = flags.to ?? config.dispatcher.topic;
  const found = await read(filter);
  const registry = projectCommandRegistry({ taskQueue: config.temporal.taskQueue, operatorEmail: config.alertOperatorEmail, commands: loadPipelines().commands });
  const decoder = createCommandDecoder({ schemaRegistry: config.schemaRegistry });
  const outcomes = await withKafka((kafka) => replayDeadLetters({ kafka, deadLetterTopic: deadLetterTopic(), topic, deadLetters: found, decoder, registry, dryRun: flags.dryRun }));
  const skipped = outcomes.filter((o) => o.verdict === 'rejected' || o.verdict === 'truncated');
  if (flags.json) process.stdout.write(`${JSON.stringify(outcomes)}\n`);
  else {
    for (const o of outcomes) process.stdout.write(`${lineOf(o)}\n`);
    const done = outcomes.length - skipped.length;
    process.stdout.write(`${flags.dryRun ? `dry run: ${done} would be replayed` : `${done} replayed`} to ${topic}, ${skipped.length} skipped\n`);
  }
  // Scripts must notice a selection that did not all go back.
  if (skipped.length) process.exitCode = 1;
}

function lineOf(o: ReplayOutcome): string {
  const what = `${o.ref}  ${o.command ?? '-'}  (${o.reason})`;
  switch (o.verdict) {
    case 'replayed':
      return `${what}  replayed: workflow id ${o.workflowId}`;
    case 'would-replay':
      return `${what}  would pass now: workflow id ${o.workflowId}`;
    default:
      return `${what}  skipped, ${o.verdict === 'truncated' ? 'cannot replay' : 'would be dead-lettered again'}: ${o.detail}`;
  }
}

function filterOptions(cmd: Command): Command {
  return cmd
    .option('--reason <reason>', 'unknown-command | invalid-params | undecodable | oversized | unknown-schema | invalid-envelope')
    .option('--command <name>', 'the command the body names')
    .option('--since <iso time>', 'dead-lettered at or after this time')
    .option('--until <iso time>', 'dead-lettered before this time')
    .option('--partition <n>', 'read from this partition of the commands topic (header kto-source-partition)')
    .option('--json', 'print JSON');
}

/** Adds `kto dlq list | show | replay`. */
export function registerDlqCommands(program: Command): Command {
  const dlq = program
    .command('dlq')
    .description('the dispatcher\'s dead letters (KTO_DEAD_LETTER_TOPIC): list, show, replay after a fix; a dead letter\'s ref is <partition>:<offset> in that topic');
  filterOptions(dlq.command('list').description('dead letters with their reason, command and source, oldest first per partition')).action(action(list));
  dlq.command('show').description('one dead letter: its headers and decoded body').argument('<ref>', '<partition>:<offset> of the dead-letter topic').option('--json', 'print JSON').action(action(show));
  filterOptions(
    dlq
      .command('replay')
      .description('write dead letters back to the commands topic; each keeps its idempotency key or gets <dead-letter topic>-<partition>-<offset>, so replaying twice starts one workflow')
      .argument('[refs...]', '<partition>:<offset> of the dead-letter topic'),
  )
    .option('--dry-run', 'print what would be replayed and whether it would pass validation now; write nothing')
    .option('--to <topic>', 'commands topic to write to (default: KTO_DISPATCHER_TOPIC)')
    .action(action(replay));
  return dlq;
}
