import path from 'node:path';
import type { Logger } from '../runtime/logger';
import type { DevStackPorts, PortName } from './ports';

export const SERVICE_NAMES = ['temporal', 'kafka', 'smtp', 'schema-registry'] as const;
/** The services of every stack, and `kafka-2`, `kafka-3` for the other nodes of a Kafka cluster. */
export type ServiceName = (typeof SERVICE_NAMES)[number] | `kafka-${number}`;

/** Folder layout of one stack: `run/` pid files, `logs/` output, `data/` state kept across restarts. */
export function stackPaths(dir: string) {
  return {
    dir,
    run: path.join(dir, 'run'),
    logs: path.join(dir, 'logs'),
    data: path.join(dir, 'data'),
    pidFile: (service: ServiceName) => path.join(dir, 'run', `${service}.pid`),
    logFile: (service: ServiceName) => path.join(dir, 'logs', `${service}.log`),
  };
}

export type StackPaths = ReturnType<typeof stackPaths>;

/** What every service factory gets. */
export interface ServiceContext {
  paths: StackPaths;
  cacheDir: string;
  ports: DevStackPorts;
  logger: Logger;
  /** The Apache Kafka release to install and run, e.g. 3.9.1 or 4.1.1. */
  kafkaVersion: string;
  /** Kafka nodes: 1, or 3 for a cluster. */
  kafkaBrokers: number;
  /** Whether each Kafka node adds a SASL_SSL listener (see kafka-sasl.ts). */
  kafkaSasl: boolean;
}

export interface LaunchCommand {
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** One process of the stack: how to install, launch and probe it. */
export interface ServiceSpec {
  name: ServiceName;
  /** Listeners, checked free before launch and shown by `kto dev status`; the first is the main one. */
  ports: PortName[];
  /** Added to each of `ports`: node n of a Kafka cluster listens on the configured ports plus 2(n − 1). @default 0 */
  portOffset?: number;
  /** Whole arguments that identify this service of this stack: the program plus a path unique to the stack. */
  signature: string[];
  /** Installs what the service needs into the cache; a no-op once done. */
  install(progress: (message: string) => void): Promise<void>;
  /** Builds the command line, doing any one-time setup first (e.g. formatting Kafka's storage). */
  prepare(): Promise<LaunchCommand>;
  /** One readiness check; polled until it returns true. */
  probe(): Promise<boolean>;
  /** How long a start may take before it counts as failed. */
  readyTimeoutMs: number;
}
