import type { Command } from 'commander';
import { mailDirOf } from '../devstack';
import { createMailbox, type StoredMessage } from '../devstack/mailbox';
import { action, cliContext } from './context';
import { UserError } from '../runtime/errors';
import { newTable, shortTime } from './format';

interface MailOptions {
  json?: boolean;
  show?: string;
  clear?: boolean;
}

/** Resolves an exact id or a unique prefix, so a user can paste the start of an id. */
function findMessage(messages: StoredMessage[], id: string): StoredMessage {
  const exact = messages.find((m) => m.id === id);
  if (exact) return exact;
  const matches = messages.filter((m) => m.id.startsWith(id));
  if (matches.length === 1) return matches[0];
  if (matches.length === 0) {
    throw new UserError(`No message with id "${id}" in the dev mailbox.`, 'run `kto dev mail` to list the ids of received messages');
  }
  throw new UserError(`"${id}" matches ${matches.length} messages, so kto cannot tell which one to show.`, 'pass more characters of the id');
}

/** Adds `kto dev mail`: what the local SMTP sink received, read from disk (the sink need not run). */
export function registerMailCommand(dev: Command): Command {
  return dev
    .command('mail')
    .description('list the emails the local SMTP sink received')
    .option('--json', 'print the list as JSON')
    .option('--show <id>', 'print one raw message (an id or a unique prefix of one)')
    .option('--clear', 'delete every received message')
    .action(
      action(async (opts: MailOptions) => {
        const { config } = cliContext();
        const mailbox = createMailbox(mailDirOf(config.devstack.dir));
        if (opts.clear) {
          const deleted = await mailbox.clear();
          process.stdout.write(`deleted ${deleted} message${deleted === 1 ? '' : 's'} from ${mailbox.dir}\n`);
          return;
        }
        const messages = await mailbox.list();
        if (opts.show) {
          const message = findMessage(messages, opts.show);
          const raw = await mailbox.read(message.id);
          if (!raw) throw new UserError(`Message ${message.id} was deleted while kto was reading it.`, 'run `kto dev mail` again');
          process.stdout.write(raw);
          return;
        }
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(messages, null, 2)}\n`);
          return;
        }
        if (messages.length === 0) {
          process.stdout.write(`No mail yet in ${mailbox.dir}.\nStart the stack with \`kto dev up\` and point KTO_SMTP_PORT at its sink (port ${config.devstack.ports.smtp}).\n`);
          return;
        }
        const table = newTable(['time', 'id', 'from', 'to', 'subject'], { wordWrap: true });
        for (const m of messages) {
          table.push([shortTime(m.date), m.id, m.from, m.to.join(', '), m.subject]);
        }
        process.stdout.write(`${table.toString()}\n${messages.length} message${messages.length === 1 ? '' : 's'} in ${mailbox.dir}\n`);
      }),
    );
}
