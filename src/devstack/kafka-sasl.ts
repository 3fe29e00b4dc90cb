import { execFile } from 'node:child_process';
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { createKafka } from '../kafka/client';
import { UserError } from '../runtime/errors';
import type { Logger } from '../runtime/logger';
import type { KafkaNode } from './ports';
import type { StackPaths } from './service';
import { requireTool } from './tools';

/**
 * The optional SASL_SSL listener of the local Kafka: TLS with a certificate signed by a CA the
 * stack makes for itself, and SASL users for PLAIN and SCRAM-SHA-512 with random passwords. It
 * sits beside the PLAINTEXT listener, which the nodes keep for each other and the controller
 * quorum, so a client proves its settings against a real secured listener without the stack's
 * own traffic depending on them.
 */

export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

export interface SaslUser {
  username: string;
  password: string;
}

export type SaslUsers = Record<SaslMechanism, SaslUser>;

/** Where clients reach the SASL_SSL listener, and the files that configure them. */
export interface KafkaSaslEndpoint {
  /** host:port of every node's SASL_SSL listener. */
  brokers: string[];
  /** PEM of the stack's CA, for `ssl.ca.location`. */
  caFile: string;
  /** One librdkafka properties file per mechanism, ready for KTO_KAFKA_CONFIG_FILE (password included). */
  configFiles: Record<SaslMechanism, string>;
}

/** The listener name in server.properties (and in its `listener.name.<name>.` keys). */
export const SASL_LISTENER = 'SASL_SSL';
/** SCRAM's work factor; Kafka's minimum is 4096. */
const SCRAM_ITERATIONS = 8192;

export function saslPaths(paths: StackPaths) {
  const dir = path.join(paths.run, 'kafka-sasl');
  return {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    /** The brokers' private key, certificate and CA: a PEM key store. */
    keyStore: path.join(dir, 'broker.pem'),
    configFile: (mechanism: SaslMechanism) => path.join(dir, `${mechanism.toLowerCase()}.properties`),
    /** Kept with the data: SCRAM users live in the cluster metadata, formatted once. */
    usersFile: path.join(paths.data, 'kafka-sasl-users.json'),
  };
}

export function kafkaSaslEndpoint(paths: StackPaths, nodes: KafkaNode[]): KafkaSaslEndpoint {
  const p = saslPaths(paths);
  return {
    brokers: nodes.map((n) => `127.0.0.1:${n.saslPort}`),
    caFile: p.caFile,
    configFiles: { PLAIN: p.configFile('PLAIN'), 'SCRAM-SHA-512': p.configFile('SCRAM-SHA-512') },
  };
}

/** The users of the stack whose data is in `paths.data`, if its Kafka was formatted with them. */
export function readSaslUsers(paths: StackPaths): SaslUsers | undefined {
  const file = saslPaths(paths).usersFile;
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SaslUsers) : undefined;
}

/**
 * The users, made with fresh random passwords when the Kafka data is about to be formatted. Data
 * formatted without them cannot gain its SCRAM users later here: they are written at format time.
 */
export function claimSaslUsers(paths: StackPaths, formatting: boolean): SaslUsers {
  const found = readSaslUsers(paths);
  if (found) return found;
  if (!formatting) {
    throw new UserError(
      `The Kafka data in ${paths.data} was formatted without SASL users, so the SASL_SSL listener (KTO_DEV_KAFKA_SASL) would have no SCRAM user.`,
      `\`kto dev down\`, delete ${paths.data} and start again with KTO_DEV_KAFKA_SASL=1 (its topics go with it), or unset KTO_DEV_KAFKA_SASL`,
    );
  }
  const password = () => randomBytes(18).toString('base64url');
  const users: SaslUsers = { PLAIN: { username: 'kto_plain', password: password() }, 'SCRAM-SHA-512': { username: 'kto_scram', password: password() } };
  mkdirSync(paths.data, { recursive: true });
  writeFileSync(saslPaths(paths).usersFile, `${JSON.stringify(users)}\n`, { mode: 0o600 });
  return users;
}

/**
 * The `kafka-storage format --add-scram` argument for a SCRAM user, as salt and salted password:
 * the password itself then appears in no command line and no log.
 */
export function scramCredentialArg(user: SaslUser): string {
  const salt = randomBytes(24);
  const salted = pbkdf2Sync(user.password, salt, SCRAM_ITERATIONS, 64, 'sha512');
  return `SCRAM-SHA-512=[name=${user.username},iterations=${SCRAM_ITERATIONS},salt="${salt.toString('base64')}",saltedpassword="${salted.toString('base64')}"]`;
}

/** server.properties entries of the SASL_SSL listener; the PLAIN users are listed in its JAAS entry. */
export function saslServerProperties(paths: StackPaths, users: SaslUsers): Record<string, string> {
  const prefix = `listener.name.${SASL_LISTENER.toLowerCase()}`;
  const plain = users.PLAIN;
  return {
    [`${prefix}.sasl.enabled.mechanisms`]: SASL_MECHANISMS.join(','),
    [`${prefix}.plain.sasl.jaas.config`]: `org.apache.kafka.common.security.plain.PlainLoginModule required user_${plain.username}="${plain.password}";`,
    [`${prefix}.scram-sha-512.sasl.jaas.config`]: 'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    [`${prefix}.ssl.keystore.type`]: 'PEM',
    [`${prefix}.ssl.keystore.location`]: saslPaths(paths).keyStore,
  };
}

/** What a client of the listener writes in a librdkafka properties file, as the seed pipelines do. */
export function renderClientProperties(endpoint: Pick<KafkaSaslEndpoint, 'brokers' | 'caFile'>, mechanism: SaslMechanism, user: SaslUser): string {
  return [
    `# The local stack's SASL_SSL listener (${mechanism}); written by kto dev on every start.`,
    `bootstrap.servers=${endpoint.brokers.join(',')}`,
    'security.protocol=SASL_SSL',
    `sasl.mechanisms=${mechanism}`,
    `sasl.username=${user.username}`,
    `sasl.password=${user.password}`,
    `ssl.ca.location=${endpoint.caFile}`,
    '',
  ].join('\n');
}

/** Writes one client properties file per mechanism, readable by their owner only. */
export function writeClientProperties(paths: StackPaths, endpoint: KafkaSaslEndpoint, users: SaslUsers): void {
  mkdirSync(saslPaths(paths).dir, { recursive: true });
  for (const mechanism of SASL_MECHANISMS) {
    writeFileSync(endpoint.configFiles[mechanism], renderClientProperties(endpoint, mechanism, users[mechanism]), { mode: 0o600 });
  }
}

/** A SCRAM login over TLS on the node's SASL_SSL listener: certificate, JAAS entries and the users in the metadata all work. */
export async function saslListenerAnswers(paths: StackPaths, node: KafkaNode, logger: Logger): Promise<boolean> {
  const user = readSaslUsers(paths)?.['SCRAM-SHA-512'];
  if (!user) return false;
  const kafka = createKafka(
    {
      brokers: [`127.0.0.1:${node.saslPort}`],
      clientId: 'kto-devstack',
      securityProtocol: 'SASL_SSL',
      saslMechanism: 'SCRAM-SHA-512',
      saslUsername: user.username,
      saslPassword: user.password,
      sslCaLocation: saslPaths(paths).caFile,
      ignoredProperties: [],
    },
    logger,
  );
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    return true;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

const run = promisify(execFile);

async function openssl(args: string[], cwd: string): Promise<void> {
  const binary = requireTool('openssl');
  try {
    await run(binary, args, { cwd });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new UserError(`\`openssl ${args.slice(0, 2).join(' ')} …\` failed making the SASL_SSL listener's certificates: ${stderr || (err as Error).message}`, 'check that `openssl version` works (OpenSSL 1.1.1 or newer)');
  }
}

/**
 * A CA and a broker certificate for 127.0.0.1 and localhost, signed by it, made once per stack
 * folder: a client that trusts ca.pem keeps working across restarts. Made in a scratch folder
 * and renamed into place, so no node ever reads half of them.
 */
export async function ensureCertificates(paths: StackPaths): Promise<void> {
  const p = saslPaths(paths);
  if (existsSync(p.keyStore) && existsSync(p.caFile)) return;
  const work = `${p.dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const days = ['-days', '3650'];
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', ...days, '-subj', '/CN=kto dev stack CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], work);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'broker.key', '-out', 'broker.csr', '-subj', '/CN=localhost'], work);
  writeFileSync(path.join(work, 'broker.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  const serial = `0x${randomBytes(8).toString('hex')}`;
  await openssl(['x509', '-req', '-in', 'broker.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', serial, ...days, '-extfile', 'broker.ext', '-out', 'broker.crt'], work);
  const pem = (name: string) => readFileSync(path.join(work, name), 'utf8');
  writeFileSync(path.join(work, 'broker.pem'), `${pem('broker.key')}${pem('broker.crt')}${pem('ca.pem')}`, { mode: 0o600 });
  for (const scratch of ['ca.key', 'broker.key', 'broker.csr', 'broker.ext', 'broker.crt']) rmSync(path.join(work, scratch));
  mkdirSync(path.dirname(p.dir), { recursive: true });
  rmSync(p.dir, { recursive: true, force: true });
  renameSync(work, p.dir);
}
