import { readFileSync } from 'node:fs';
import net from 'node:net';
import { UserError } from '../runtime/errors';

/** The ports of the local stack, one per listener, as in `DevStackConfig['ports']`. */
export interface DevStackPorts {
  temporal: number;
  temporalUi: number;
  kafka: number;
  kafkaController: number;
  /** The SASL_SSL listener, when the stack runs one (KTO_DEV_KAFKA_SASL). */
  kafkaSasl: number;
  smtp: number;
  smtpControl: number;
  schemaRegistry: number;
}

export type PortName = keyof DevStackPorts;

/** The variable that moves each port, so an error can name the one knob a user has to turn. */
export const PORT_ENV_VARS: Record<PortName, string> = {
  temporal: 'KTO_DEV_TEMPORAL_PORT',
  temporalUi: 'KTO_DEV_TEMPORAL_UI_PORT',
  kafka: 'KTO_DEV_KAFKA_PORT',
  kafkaController: 'KTO_DEV_KAFKA_CONTROLLER_PORT',
  kafkaSasl: 'KTO_DEV_KAFKA_SASL_PORT',
  smtp: 'KTO_DEV_SMTP_PORT',
  smtpControl: 'KTO_DEV_SMTP_CONTROL_PORT',
  schemaRegistry: 'KTO_DEV_SCHEMA_REGISTRY_PORT',
};

const HOST = '127.0.0.1';

/**
 * True when nothing listens on the port. Binding is the only reliable test: a connect probe
 * misses a listener that is still starting, and a wildcard (0.0.0.0) listener also blocks us.
 */
export function isPortFree(port: number, host = HOST): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** True when something accepts TCP connections on the port (a service is at least listening). */
export function isPortOpen(port: number, host = HOST, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The range the OS draws outgoing connections' local ports from (Linux; elsewhere none is known).
 * A port chosen inside it can be taken by any outgoing connection before its service binds it,
 * e.g. by one Kafka node connecting to another while the schema registry is still starting.
 */
function ephemeralRange(): [number, number] | undefined {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return Number.isInteger(low) && Number.isInteger(high) ? [low, high] : undefined;
  } catch {
    return undefined;
  }
}

/** Stack ports are drawn at random from here: below the ephemeral range, above the well-known services. */
const PICK_LOW = 15_000;

function pickRange(): [number, number] | undefined {
  const ephemeral = ephemeralRange();
  // Keep room for a run of consecutive ports (a 3-node cluster's listeners) below the ephemeral range.
  if (ephemeral && ephemeral[0] - 64 - PICK_LOW >= 2_000) return [PICK_LOW, ephemeral[0] - 64];
  return undefined;
}

/** Binds `port` (0: any the OS picks) exclusively; undefined when another program holds it. */
function hold(port: number, host: string): Promise<net.Server | undefined> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => resolve(server));
  });
}

/**
 * Ports free right now, all distinct, drawn outside the OS's ephemeral range where it is known
 * (so no outgoing connection takes one before its service binds it). Each is held open until
 * all are chosen; another program may still bind one before use.
 * `avoid` skips ports chosen earlier but not yet bound (a stack's other listeners).
 */
export async function findFreePorts(count: number, host = HOST, avoid: Iterable<number> = []): Promise<number[]> {
  const servers: net.Server[] = [];
  const avoided = new Set(avoid);
  const range = pickRange();
  try {
    const ports: number[] = [];
    for (let tries = 0; ports.length < count; tries++) {
      if (tries > 1_000) throw new Error(`found no ${count} free ports on ${host} in 1,000 tries`);
      const candidate = range ? range[0] + Math.floor(Math.random() * (range[1] - range[0])) : 0;
      if (avoided.has(candidate)) continue;
      const server = await hold(candidate, host);
      if (!server) continue;
      servers.push(server);
      const { port } = server.address() as net.AddressInfo;
      if (!avoided.has(port) && !ports.includes(port)) ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** The error for a port another program holds: which port, which variable moves it, how to look. */
export function portInUseError(service: string, name: PortName, port: number): UserError {
  return new UserError(
    `Cannot start ${service}: port ${port} (${name}) is already in use by another program.`,
    `stop whatever listens on ${port} (\`ss -ltnp | grep :${port}\`), or pick another port with ${PORT_ENV_VARS[name]}=<port>; ` +
      '`kto dev status` shows whether it is a kto stack started from another directory',
  );
}

/** A Kafka node of the stack: node 1 listens on the configured ports, node n on each plus 2(n − 1). */
export interface KafkaNode {
  id: number;
  port: number;
  controllerPort: number;
  saslPort: number;
}

export function kafkaNodes(ports: Pick<DevStackPorts, 'kafka' | 'kafkaController' | 'kafkaSasl'>, count: number): KafkaNode[] {
  return Array.from({ length: count }, (_, i) => ({ id: i + 1, port: ports.kafka + 2 * i, controllerPort: ports.kafkaController + 2 * i, saslPort: ports.kafkaSasl + 2 * i }));
}

/** The first of `size` consecutive ports that are all free right now, none of them in `avoid`. */
async function findFreePortRun(size: number, host = HOST, avoid: number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const [first] = await findFreePorts(1, host, avoid);
    if (first + size > 65536) continue;
    const run = Array.from({ length: size }, (_, i) => first + i);
    if (run.some((port) => avoid.includes(port))) continue;
    const rest = await Promise.all(run.slice(1).map((port) => isPortFree(port, host)));
    if (rest.every(Boolean)) return first;
  }
  throw new Error(`found no ${size} consecutive free ports on ${host} in 50 tries`);
}

/**
 * One free port per listener of a stack, e.g. for a private stack of tests or benchmarks. With
 * several Kafka nodes, their listeners take a run of consecutive free ports (see {@link kafkaNodes}).
 */
export async function findFreeStackPorts(options: { kafkaBrokers?: number } = {}): Promise<DevStackPorts> {
  const brokers = options.kafkaBrokers ?? 1;
  const runOf = (first: number, size: number) => Array.from({ length: size }, (_, i) => first + i);
  const kafka = await findFreePortRun(2 * brokers);
  // The SASL_SSL listeners step by 2 like the others, with the ports between them unused.
  const kafkaSasl = await findFreePortRun(2 * brokers - 1, HOST, runOf(kafka, 2 * brokers));
  const taken = [...runOf(kafka, 2 * brokers), ...runOf(kafkaSasl, 2 * brokers - 1)];
  const names = (Object.keys(PORT_ENV_VARS) as PortName[]).filter((name) => !['kafka', 'kafkaController', 'kafkaSasl'].includes(name));
  const ports = await findFreePorts(names.length, HOST, taken);
  return { ...Object.fromEntries(names.map((name, i) => [name, ports[i]])), kafka, kafkaController: kafka + 1, kafkaSasl } as DevStackPorts;
}
