import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../runtime/errors';

/**
 * The SHA-256 sums the dev stack checks its downloads against, committed in `pins/` and shipped
 * in the npm package: a registry, a mirror or a proxy that serves other bytes than the ones kto
 * was tested with stops the install instead of running them.
 */

/** Set to 1 to install a release that kto has no pins for, unverified. */
export const ALLOW_UNPINNED_ENV = 'KTO_DEV_ALLOW_UNPINNED';

/** How to write the pins of a release again, from a kto checkout. */
export const PINS_COMMAND = 'npm run pins --';

/** File name → expected sha256 (lowercase hex). */
export type Pins = ReadonlyMap<string, string>;

export type PinProblem =
  | { kind: 'mismatch'; file: string; actual: string; expected: string }
  | { kind: 'unlisted'; file: string }
  | { kind: 'missing'; file: string };

/** kto's `pins/` folder: above this module both in source and in dist. */
export function pinsDir(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'pins'))) return path.join(dir, 'pins');
  }
  throw new UserError(`kto's pins folder was not found above ${__dirname}.`, 'reinstall kto: the package ships it');
}

/** The pins file of a download, e.g. `kafka-3.9.1.sha256`. */
export function pinsFile(name: string): string {
  return path.join(pinsDir(), name);
}

const LINE = /^([0-9a-f]{64}) [ *](.+)$/;

/** Reads `sha256sum` output (`<hash>  <file name>` a line), the format of the pins files. */
export function parsePins(text: string, source: string): Pins {
  const pins = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!line) return;
    const match = LINE.exec(line);
    if (!match) throw new Error(`${source}:${i + 1} is not "<sha256>  <file name>": ${line}`);
    pins.set(match[2], match[1]);
  });
  return pins;
}

export function renderPins(pins: Pins): string {
  return [...pins].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([file, hash]) => `${hash}  ${file}\n`).join('');
}

/** Streamed, since the Apicurio archive alone is 100 MB. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The sha256 of every file in `files` (paths), keyed by file name. */
export async function hashFiles(files: string[]): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const file of files) hashes.set(path.basename(file), await sha256File(file));
  return hashes;
}

/**
 * What differs between `files` and the pins: each file must be listed with its hash, and with
 * `complete`, each listed file must be among them (a jar Maven no longer copies is as suspect as
 * a new one).
 */
export async function comparePins(files: string[], pins: Pins, options: { complete: boolean }): Promise<PinProblem[]> {
  const problems: PinProblem[] = [];
  const actual = await hashFiles(files);
  for (const [file, hash] of actual) {
    const expected = pins.get(file);
    if (expected === undefined) problems.push({ kind: 'unlisted', file });
    else if (expected !== hash) problems.push({ kind: 'mismatch', file, actual: hash, expected });
  }
  if (options.complete) for (const file of pins.keys()) if (!actual.has(file)) problems.push({ kind: 'missing', file });
  return problems;
}

export function describeProblem(problem: PinProblem, pinsName: string): string {
  switch (problem.kind) {
    case 'mismatch':
      return `sha256 of ${problem.file} is ${problem.actual}, expected ${problem.expected}: the download is corrupt or was tampered with`;
    case 'unlisted':
      return `${problem.file} is not listed in ${pinsName}: Maven resolved a file kto never pinned`;
    case 'missing':
      return `${problem.file} is listed in ${pinsName} but was not downloaded`;
  }
}

export interface VerifyPinsOptions {
  /** The downloaded files (paths). */
  files: string[];
  /** The pins file to check them against. */
  pinsFile: string;
  /** What the files are, for the message: "Kafka 3.9.1's jars in …". */
  what: string;
  /** The fix line, which may depend on what went wrong (a bad download, or pins out of date). */
  fix: (problems: PinProblem[]) => string;
  /** Also fail when a pinned file is missing. @default true */
  complete?: boolean;
}

/** Checks the files against their pins and throws one UserError naming every problem. */
export async function verifyPins(options: VerifyPinsOptions): Promise<void> {
  const pins = parsePins(readFileSync(options.pinsFile, 'utf8'), options.pinsFile);
  const problems = await comparePins(options.files, pins, { complete: options.complete ?? true });
  if (problems.length === 0) return;
  const name = path.basename(options.pinsFile);
  const lines = problems.map((p) => `  ${describeProblem(p, name)}`).join('\n');
  throw new UserError(`${options.what} do not match the sha256 sums kto pinned in ${options.pinsFile}:\n${lines}`, options.fix(problems));
}

/**
 * `file` when kto pins the download, or undefined when the user allowed an unpinned install
 * (with a loud warning); without pins and without that permission, the install stops here.
 */
export function requirePins(options: { file: string; what: string; pinsArgs: string; warn: (message: string) => void; env?: NodeJS.ProcessEnv }): string | undefined {
  if (existsSync(options.file)) return options.file;
  const allowed = (options.env ?? process.env)[ALLOW_UNPINNED_ENV] === '1';
  if (!allowed) {
    throw new UserError(
      `kto has no sha256 pins for ${options.what} (${options.file} is missing), so it cannot check the download.`,
      `use a release kto has pins for (the files in ${path.dirname(options.file)}), or add its pins in a kto checkout with \`${PINS_COMMAND} ${options.pinsArgs}\`; ` +
        `to install it unverified anyway, set ${ALLOW_UNPINNED_ENV}=1`,
    );
  }
  options.warn(`WARNING: ${ALLOW_UNPINNED_ENV}=1: installing ${options.what} UNVERIFIED; kto has no sha256 pins for it (${options.file})`);
  return undefined;
}

/** Stamp text for an install checked against `file` (so changed pins reinstall), or an unpinned one. */
export function pinsStamp(file: string | undefined): string {
  if (!file) return 'unpinned';
  return `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16)}`;
}

/** Every copy of the files named `names` under a Maven repository, for a fix line to name. */
export function findInMavenRepo(repo: string, names: string[]): string[] {
  if (!existsSync(repo) || names.length === 0) return [];
  const wanted = new Set(names);
  return readdirSync(repo, { recursive: true, encoding: 'utf8' })
    .filter((rel) => wanted.has(path.basename(rel)))
    .map((rel) => path.join(repo, rel))
    .sort();
}
