import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { simpleParser, type AddressObject } from 'mailparser';

/**
 * The on-disk format of the dev SMTP sink, shared by the sink (writes), `kto dev mail` and tests
 * (read, with or without the sink running). Each message is `<id>.eml` (the raw RFC 822 bytes as
 * received) beside `<id>.json` (envelope and subject), so listing never re-parses every message.
 */
export interface StoredMessage {
  /** Sortable by arrival: compact UTC timestamp, a per-process sequence, random suffix. */
  id: string;
  /** Absolute path of the `.eml` file. */
  file: string;
  /** Envelope sender (MAIL FROM), or the From header when no sidecar exists. */
  from: string;
  /** Envelope recipients (RCPT TO), which include Bcc recipients the headers do not show. */
  to: string[];
  subject: string;
  /** Arrival time, ISO 8601. */
  date: string;
  /** Size of the raw message in bytes. */
  size: number;
}

export interface Envelope {
  from: string;
  to: string[];
}

export interface Mailbox {
  readonly dir: string;
  /** Stores one accepted message; the `.eml` appears last, so a listed message is always complete. */
  store(raw: Buffer, envelope: Envelope): Promise<StoredMessage>;
  /** Every stored message, oldest first (newest last). An absent directory is an empty mailbox. */
  list(): Promise<StoredMessage[]>;
  /** The raw bytes of one message, or undefined when no message has that id. */
  read(id: string): Promise<Buffer | undefined>;
  /** Deletes every stored message; returns how many were deleted. */
  clear(): Promise<number>;
}

const ID_PATTERN = /^[A-Za-z0-9-]+$/;
let sequence = 0;

function newId(now: Date): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  sequence = (sequence + 1) % 1_000_000;
  return `${stamp}-${String(sequence).padStart(6, '0')}-${randomBytes(3).toString('hex')}`;
}

function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return list.flatMap((a) => a.value.map((v) => v.address ?? v.name)).filter(Boolean);
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Opens the mailbox kept in `dir`; nothing touches the disk until a method is called. */
export function createMailbox(dir: string): Mailbox {
  const root = path.resolve(dir);
  const emlPath = (id: string) => path.join(root, `${id}.eml`);
  const sidecarPath = (id: string) => path.join(root, `${id}.json`);

  async function describe(id: string): Promise<StoredMessage | undefined> {
    try {
      const meta = JSON.parse(await readFile(sidecarPath(id), 'utf8')) as Omit<StoredMessage, 'file'>;
      return { ...meta, id, file: emlPath(id) };
    } catch {
      // No or damaged sidecar (a file dropped in by hand, a crash mid-write): parse the message.
    }
    let raw: Buffer;
    try {
      raw = await readFile(emlPath(id));
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    const parsed = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
    return {
      id,
      file: emlPath(id),
      from: addresses(parsed.from)[0] ?? '',
      to: [...addresses(parsed.to), ...addresses(parsed.cc)],
      subject: parsed.subject ?? '',
      date: (parsed.date ?? new Date(0)).toISOString(),
      size: raw.length,
    };
  }

  return {
    dir: root,

    async store(raw, envelope) {
      await mkdir(root, { recursive: true });
      const arrived = new Date();
      const id = newId(arrived);
      const parsed = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
      const meta = { id, from: envelope.from, to: envelope.to, subject: parsed.subject ?? '', date: arrived.toISOString(), size: raw.length };
      await writeFile(sidecarPath(id), `${JSON.stringify(meta)}\n`);
      // Write then rename: a reader polling the directory never sees a half-written .eml.
      const tmp = path.join(root, `.${id}.eml.tmp`);
      await writeFile(tmp, raw);
      await rename(tmp, emlPath(id));
      return { ...meta, file: emlPath(id) };
    },

    async list() {
      let names: string[];
      try {
        names = await readdir(root);
      } catch (err) {
        if (isMissing(err)) return [];
        throw err;
      }
      const ids = names
        .filter((n) => n.endsWith('.eml') && !n.startsWith('.'))
        .map((n) => n.slice(0, -'.eml'.length))
        .sort();
      const messages = await Promise.all(ids.map(describe));
      return messages.filter((m): m is StoredMessage => m !== undefined);
    },

    async read(id) {
      if (!ID_PATTERN.test(id)) return undefined;
      try {
        return await readFile(emlPath(id));
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },

    async clear() {
      let names: string[];
      try {
        names = await readdir(root);
      } catch (err) {
        if (isMissing(err)) return 0;
        throw err;
      }
      const stored = names.filter((n) => /\.(eml|json|eml\.tmp)$/.test(n));
      await Promise.all(stored.map((n) => rm(path.join(root, n), { force: true })));
      return stored.filter((n) => n.endsWith('.eml') && !n.startsWith('.')).length;
    },
  };
}
