import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../runtime/errors';
import { createLogger, type Logger } from '../runtime/logger';
import { createKafkaServices, readKafkaData } from './kafka';
import { kafkaSaslEndpoint, readSaslUsers, type KafkaSaslEndpoint } from './kafka-sasl';
import { KAFKA_VERSION, KAFKA_VERSION_HINT, SUPPORTED_KAFKA_VERSION } from './kafka-version';
import { isPortFree, isPortOpen, kafkaNodes, PORT_ENV_VARS, portInUseError, type DevStackPorts, type PortName } from './ports';
import { findProcesses, isAlive, isOwnProcess, readPid, removeFile, spawnDetached, stopProcessGroup, tailLines } from './processes';
import { createSchemaRegistryService, localSchemaRegistryUrl } from './schema-registry';
import { SERVICE_NAMES, stackPaths, type ServiceContext, type ServiceName, type ServiceSpec } from './service';
import { createSmtpService } from './smtp';
import { createTemporalService } from './temporal';

export interface DevStackOptions {
  /** State folder of this stack: `run/` (pid files), `logs/`, `data/` (kept across `down` + `up`). */
  dir: string;
  /** Download cache (Temporal CLI venv, Kafka jars, Maven repo); several stacks can share one. @default `<dir>/cache` */
  cacheDir?: string;
  /** The Apache Kafka release (3.9.x or 4.x) to install and run. @default {@link KAFKA_VERSION} */
  kafkaVersion?: string;
  /**
   * Kafka nodes: 1, or 3 (replication factor 3, min.insync.replicas 2). Kept with the data, so
   * `down`, `status` and the next `up` find all of them. @default what the data was formatted for, else 1
   */
  brokers?: number;
  /**
   * Each Kafka node adds a SASL_SSL listener on `ports.kafkaSasl`: a CA and certificate made
   * in `run/kafka-sasl/`, SASL/PLAIN and SCRAM-SHA-512 users with random passwords, and a
   * client properties file per mechanism. The PLAINTEXT listener stays. The users are written
   * with the data, so it is kept with the data too, like `brokers`.
   * @default whether the data was formatted with the users, else false
   */
  kafkaSasl?: boolean;
  /** One port per listener; `up` refuses to start a service whose port another program holds. */
  ports: DevStackPorts;
  /** Structured logs of the stack's own work. @default a logger at level warn on stderr */
  logger?: Logger;
  /** Receives one human-readable line per step ("kafka    ready in 4.2s"). @default written to stderr */
  progress?: (line: string) => void;
}

/** Where clients reach the stack. */
export interface DevStackEndpoints {
  temporalAddress: string;
  temporalUiUrl: string;
  kafkaBrokers: string[];
  smtpHost: string;
  smtpPort: number;
  /** HTTP control API of the SMTP sink (received messages, injected failures). */
  smtpControlUrl: string;
  /** Base URL of the Confluent-compatible schema registry API (Apicurio's `/apis/ccompat/v7`). */
  schemaRegistryUrl: string;
  /** The SASL_SSL listener, CA file and client properties files, when the stack runs them. */
  kafkaSasl?: KafkaSaslEndpoint;
}

/** The variables that point a kto process (CLI, worker, dispatcher) at a running stack in `dir`. */
export function endpointEnv(dir: string, endpoints: DevStackEndpoints): Record<string, string> {
  return {
    KTO_DEVSTACK_DIR: dir,
    KTO_TEMPORAL_ADDRESS: endpoints.temporalAddress,
    KTO_TEMPORAL_NAMESPACE: 'default',
    KTO_KAFKA_BROKERS: endpoints.kafkaBrokers.join(','),
    KTO_SMTP_HOST: endpoints.smtpHost,
    KTO_SMTP_PORT: String(endpoints.smtpPort),
    KTO_STAGING_DIR: path.join(dir, 'staging'),
  };
}

export type ServiceState = 'running' | 'not responding' | 'stopped' | 'port in use';

export interface ServiceStatus {
  service: ServiceName;
  state: ServiceState;
  pid?: number;
  ports: { name: PortName; port: number }[];
  logFile: string;
}

export interface DevStack {
  readonly dir: string;
  readonly cacheDir: string;
  readonly kafkaVersion: string;
  /** Whether Kafka runs the SASL_SSL listener (see {@link DevStackOptions.kafkaSasl}). */
  readonly kafkaSasl: boolean;
  /** Every service of this stack, e.g. `kafka-2` and `kafka-3` beside `kafka` for three brokers. */
  readonly serviceNames: ServiceName[];
  /** Installs whatever is missing from the cache; a no-op when everything is there. */
  install(): Promise<void>;
  /** Installs, then starts every service that is not running and waits until all answer. */
  up(): Promise<DevStackEndpoints>;
  /** Stops every service, newest first; safe when nothing runs. */
  down(): Promise<void>;
  status(): Promise<ServiceStatus[]>;
  endpoints(): DevStackEndpoints;
  logPath(service: ServiceName): string;
}

function checkedBrokers(brokers: number): number {
  if (brokers === 1 || brokers === 3) return brokers;
  throw new UserError(`The local stack runs 1 or 3 Kafka brokers, not ${brokers}.`, 'use --brokers 1 or --brokers 3');
}

function checkedKafkaVersion(version: string): string {
  if (SUPPORTED_KAFKA_VERSION.test(version)) return version;
  throw new UserError(`The local stack cannot run Kafka "${version}".`, `set KTO_DEV_KAFKA_VERSION to ${KAFKA_VERSION_HINT}`);
}

function withDefaults(options: DevStackOptions) {
  const dir = path.resolve(options.dir);
  return {
    dir,
    cacheDir: path.resolve(options.cacheDir ?? path.join(dir, 'cache')),
    ports: options.ports,
    kafkaVersion: checkedKafkaVersion(options.kafkaVersion ?? KAFKA_VERSION),
    brokers: checkedBrokers(options.brokers ?? readKafkaData(path.join(dir, 'data'))?.brokers ?? 1),
    kafkaSasl: options.kafkaSasl ?? readSaslUsers(stackPaths(dir)) !== undefined,
    logger: options.logger ?? createLogger({ level: 'warn' }),
    progress: options.progress ?? ((line: string) => void process.stderr.write(`${line}\n`)),
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
const NAME_WIDTH = Math.max(...SERVICE_NAMES.map((n) => n.length));

/** Creates a handle on the local stack in `dir`; nothing starts until `up()`. */
export function createDevStack(options: DevStackOptions): DevStack {
  const o = withDefaults(options);
  const paths = stackPaths(o.dir);
  const ctx: ServiceContext = { paths, cacheDir: o.cacheDir, ports: o.ports, logger: o.logger, kafkaVersion: o.kafkaVersion, kafkaBrokers: o.brokers, kafkaSasl: o.kafkaSasl };
  // Start order; stopping runs in reverse.
  const services: ServiceSpec[] = [createTemporalService(ctx), ...createKafkaServices(ctx), createSmtpService(ctx), createSchemaRegistryService(ctx)];
  const listeners = (spec: ServiceSpec) => spec.ports.map((name) => ({ name, port: o.ports[name] + (spec.portOffset ?? 0) }));
  const say = (service: ServiceName, message: string) => o.progress(`${service.padEnd(NAME_WIDTH)} ${message}`);

  /** The running pid of a service, removing a pid file that points at nothing of ours. */
  function runningPid(spec: ServiceSpec): number | undefined {
    const pidFile = paths.pidFile(spec.name);
    const pid = readPid(pidFile);
    if (pid !== undefined && isOwnProcess(pid, spec.signature)) return pid;
    if (pid !== undefined) removeFile(pidFile);
    return undefined;
  }

  function failure(spec: ServiceSpec, what: string): UserError {
    const logFile = paths.logFile(spec.name);
    const tail = tailLines(logFile, 20).map((l) => `  | ${l}`).join('\n');
    return new UserError(
      `${spec.name} ${what}. Last lines of ${logFile}:\n${tail || '  (the log is empty)'}`,
      `read the full log (\`kto dev logs ${spec.name}\`); if the data is damaged, \`kto dev down\` and delete ${paths.data}`,
    );
  }

  async function waitReady(spec: ServiceSpec, pid: number, child?: ChildProcess): Promise<void> {
    const started = Date.now();
    let exit: string | undefined;
    child?.once('exit', (code, signal) => (exit = signal ? `was killed by ${signal}` : `exited with code ${code}`));
    for (;;) {
      if (exit || !isAlive(pid)) throw failure(spec, `${exit ?? 'exited'} while starting`);
      if (await spec.probe()) return;
      if (Date.now() - started > spec.readyTimeoutMs) throw failure(spec, `did not become ready within ${seconds(spec.readyTimeoutMs)}`);
      await sleep(250);
    }
  }

  async function stop(spec: ServiceSpec): Promise<void> {
    const pidFile = paths.pidFile(spec.name);
    const pid = runningPid(spec);
    const pids = new Set([...(pid === undefined ? [] : [pid]), ...findProcesses(spec.signature)]);
    if (pids.size === 0) {
      removeFile(pidFile);
      return;
    }
    say(spec.name, `stopping (pid ${[...pids].join(', ')})…`);
    for (const p of pids) {
      const result = await stopProcessGroup(p);
      say(spec.name, `stopped in ${seconds(result.elapsedMs)}${result.killed ? ' (killed: it ignored SIGTERM)' : ''}`);
    }
    removeFile(pidFile);
  }

  const endpoints = (): DevStackEndpoints => ({
    temporalAddress: `127.0.0.1:${o.ports.temporal}`,
    temporalUiUrl: `http://127.0.0.1:${o.ports.temporalUi}`,
    kafkaBrokers: kafkaNodes(o.ports, o.brokers).map((n) => `127.0.0.1:${n.port}`),
    smtpHost: '127.0.0.1',
    smtpPort: o.ports.smtp,
    smtpControlUrl: `http://127.0.0.1:${o.ports.smtpControl}`,
    schemaRegistryUrl: localSchemaRegistryUrl(o.ports.schemaRegistry),
    ...(o.kafkaSasl && { kafkaSasl: kafkaSaslEndpoint(paths, kafkaNodes(o.ports, o.brokers)) }),
  });

  async function install(): Promise<void> {
    await Promise.all(services.map((spec) => spec.install((message) => say(spec.name, message))));
  }

  function checkDistinctPorts(): void {
    const byPort = new Map<number, string[]>();
    for (const spec of services) {
      for (const { name, port } of listeners(spec)) {
        const variable = spec.portOffset ? `${PORT_ENV_VARS[name]} + ${spec.portOffset} (${spec.name})` : PORT_ENV_VARS[name];
        byPort.set(port, [...(byPort.get(port) ?? []), variable]);
      }
    }
    const clash = [...byPort].find(([, names]) => names.length > 1);
    if (clash) {
      const [port, names] = clash;
      throw new UserError(
        `${names.join(' and ')} are ${names.length === 2 ? 'both' : 'all'} ${port}, but every listener of the stack needs a port of its own.`,
        `give each of them a different port`,
      );
    }
  }

  async function up(): Promise<DevStackEndpoints> {
    checkDistinctPorts();
    await install();
    const running = new Map<ServiceSpec, number>();
    for (const spec of services) {
      const pid = runningPid(spec);
      if (pid !== undefined) running.set(spec, pid);
      if (pid !== undefined) say(spec.name, `already running (pid ${pid})`);
    }
    const toStart = services.filter((spec) => !running.has(spec));
    for (const spec of toStart) {
      for (const { name, port } of listeners(spec)) {
        if (!(await isPortFree(port))) throw portInUseError(spec.name, name, port);
      }
    }
    const started = new Set<ServiceSpec>();
    const start = async (spec: ServiceSpec) => {
      const command = await spec.prepare();
      say(spec.name, `starting on 127.0.0.1:${listeners(spec).map((l) => l.port).join(', ')}…`);
      const t0 = Date.now();
      const child = spawnDetached({ ...command, pidFile: paths.pidFile(spec.name), logFile: paths.logFile(spec.name) });
      started.add(spec);
      await waitReady(spec, child.pid!, child);
      say(spec.name, `ready in ${seconds(Date.now() - t0)}`);
    };
    // Services do not depend on each other, so they start side by side; an already-running one
    // may itself still be starting (a parallel `up`), so it is waited for too.
    const results = await Promise.allSettled([...toStart.map(start), ...[...running].map(([spec, pid]) => waitReady(spec, pid))]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // Half a stack is worse than none: stop what this call started, keep the logs.
      for (const spec of [...services].reverse()) if (started.has(spec)) await stop(spec);
      throw failed.reason;
    }
    return endpoints();
  }

  async function down(): Promise<void> {
    for (const spec of [...services].reverse()) await stop(spec);
  }

  async function status(): Promise<ServiceStatus[]> {
    return Promise.all(
      services.map(async (spec): Promise<ServiceStatus> => {
        const pid = runningPid(spec);
        const ports = listeners(spec);
        let state: ServiceState;
        if (pid !== undefined) state = (await spec.probe()) ? 'running' : 'not responding';
        else state = (await isPortOpen(ports[0].port)) ? 'port in use' : 'stopped';
        return { service: spec.name, state, pid, ports, logFile: paths.logFile(spec.name) };
      }),
    );
  }

  return {
    dir: o.dir,
    cacheDir: o.cacheDir,
    kafkaVersion: o.kafkaVersion,
    kafkaSasl: o.kafkaSasl,
    serviceNames: services.map((spec) => spec.name),
    install,
    up,
    down,
    status,
    endpoints,
    logPath: (service) => paths.logFile(service),
  };
}
