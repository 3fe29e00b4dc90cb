import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ENV_KEYS, loadConfig } from '../../src/runtime/config';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';

// docker-compose.yml cannot be run here (no Docker engine), so these tests hold it to what
// kto itself expects: the env names it reads, the ports its defaults use, the files it builds from.

const root = path.resolve(__dirname, '../..');

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target: number; published?: string | number; host_ip?: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  profiles?: string[];
}

const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const services = compose.services;
const defaults = loadConfig({});

/** kto's own services are the ones built from this repository. */
const ktoServices = Object.entries(services).filter(([, s]) => s.build !== undefined);

function environment(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry) => [entry.split('=')[0], entry.slice(entry.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** Host port → container port for each published port (short "host:container" or long syntax). */
function publishedPorts(service: ComposeService): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of service.ports ?? []) {
    if (typeof entry === 'object') {
      if (entry.published !== undefined) out.set(Number(entry.published), Number(entry.target));
      continue;
    }
    const parts = String(entry).split('/')[0].split(':');
    if (parts.length >= 2) out.set(Number(parts[parts.length - 2]), Number(parts[parts.length - 1]));
  }
  return out;
}

function commandText(service: ComposeService): string {
  const c = service.command ?? '';
  return Array.isArray(c) ? c.join(' ') : c;
}

function dependencies(service: ComposeService): Record<string, string> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, d]) => [name, d.condition ?? 'service_started']));
}

describe('docker-compose.yml', () => {
  it('parses and defines the whole stack', () => {
    for (const name of ['postgresql', 'temporal', 'temporal-ui', 'kafka', 'mail', 'kto-worker', 'kto-dispatcher']) {
      expect(services).toHaveProperty([name]);
    }
    expect(ktoServices.map(([name]) => name).sort()).toEqual(['kto-dispatcher', 'kto-worker']);
  });

  it('runs the worker and the dispatcher through the image entrypoint', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "bin\/kto\.js"\]$/m);
    expect(existsSync(path.join(root, 'bin/kto.js'))).toBe(true);
    expect(commandText(services['kto-worker'])).toBe('worker');
    expect(commandText(services['kto-dispatcher'])).toBe('dispatcher');
  });

  describe.each(ktoServices)('%s', (_name, service) => {
    const env = environment(service);

    it('uses only KTO_* variables that kto reads', () => {
      const names = Object.keys(env);
      expect(names.length).toBeGreaterThan(0);
      expect(names.filter((n) => !n.startsWith('KTO_'))).toEqual([]);
      expect(names.filter((n) => !ENV_KEYS.includes(n))).toEqual([]);
    });

    it('passes loadConfig() and reaches the other services by their service names', () => {
      const config = loadConfig(env);
      const hostOf = (address: string) => address.slice(0, address.lastIndexOf(':'));
      expect(Object.keys(services)).toContain(hostOf(config.temporal.address));
      expect(Object.keys(services)).toContain(config.smtp.host);
      for (const broker of config.kafka.brokers) expect(Object.keys(services)).toContain(hostOf(broker));
      // In-network ports are the container ports the images listen on.
      expect([...publishedPorts(services[hostOf(config.temporal.address)]).values()]).toContain(Number(config.temporal.address.split(':')[1]));
      expect([...publishedPorts(services[config.smtp.host]).values()]).toContain(config.smtp.port);
    });

    it('uses addresses the Kafka broker advertises inside the network', () => {
      const advertised = environment(services.kafka).KAFKA_ADVERTISED_LISTENERS.split(',').map((l) => l.replace(/^[A-Z_]+:\/\//, ''));
      for (const broker of loadConfig(env).kafka.brokers) expect(advertised).toContain(broker);
    });

    it('has a build context holding a Dockerfile', () => {
      const build = typeof service.build === 'string' ? { context: service.build } : service.build!;
      const dockerfile = path.resolve(root, build.context ?? '.', build.dockerfile ?? 'Dockerfile');
      expect(existsSync(dockerfile)).toBe(true);
    });

    it('waits for healthy dependencies that have healthchecks', () => {
      const deps = dependencies(service);
      expect(Object.keys(deps)).toEqual(expect.arrayContaining(['temporal', 'kafka', 'mail']));
      for (const [dep, condition] of Object.entries(deps)) {
        expect(services).toHaveProperty([dep]);
        if (condition === 'service_healthy') expect(services[dep].healthcheck?.test).toBeDefined();
      }
    });
  });

  it('publishes the host ports the CLI defaults use', () => {
    const ports = defaults.devstack.ports;
    expect(publishedPorts(services.temporal).get(ports.temporal)).toBe(7233);
    expect(publishedPorts(services['temporal-ui']).get(ports.temporalUi)).toBe(8080);
    expect(publishedPorts(services.kafka).get(ports.kafka)).toBeDefined();
    expect(publishedPorts(services.mail).get(ports.smtp)).toBe(1025);
  });

  it('publishes every port on the loopback interface only', () => {
    const published = Object.entries(services).flatMap(([name, s]) => (s.ports ?? []).map((entry) => [name, entry] as const));
    expect(published.length).toBeGreaterThan(0);
    for (const [name, entry] of published) {
      // Short syntax "ip:host:container"; without the ip, Docker publishes on every interface.
      const parts = String(entry).split(':');
      const hostIp = typeof entry === 'object' ? entry.host_ip : parts.length === 3 ? parts[0] : undefined;
      expect({ service: name, port: entry, hostIp }).toEqual({ service: name, port: entry, hostIp: '127.0.0.1' });
    }
  });

  it('advertises the published Kafka port as the default brokers address', () => {
    const kafka = environment(services.kafka);
    const [hostBroker] = defaults.kafka.brokers;
    const hostPort = Number(hostBroker.split(':')[1]);
    expect(publishedPorts(services.kafka).get(hostPort)).toBe(hostPort);
    expect(kafka.KAFKA_ADVERTISED_LISTENERS).toMatch(new RegExp(`//localhost:${hostPort}(,|$)`));
  });

  it('runs the Kafka release of the local stack: 3.9.1 unless KTO_DEV_KAFKA_VERSION picks another', () => {
    const [, variable, fallback] = /^apache\/kafka:\$\{(\w+):-([^}]+)\}$/.exec(services.kafka.image ?? '') ?? [];
    expect(variable).toBe('KTO_DEV_KAFKA_VERSION');
    expect(fallback).toBe(defaults.devstack.kafkaVersion);
  });

  it('configures a single Kafka node for consumer groups and transactions', () => {
    expect(environment(services.kafka)).toMatchObject({
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
    });
  });

  it("registers kto's search attributes with their types", () => {
    const setup = Object.values(services).find((s) => commandText(s).includes('search-attribute create'));
    expect(setup).toBeDefined();
    const script = commandText(setup!);
    // The same list the local dev server registers.
    const specs = Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => `${name}=${type}`);
    expect(specs.length).toBeGreaterThan(0);
    for (const spec of specs) expect(script).toContain(spec);
    expect(dependencies(services['kto-worker'])).toMatchObject({ 'temporal-setup': 'service_completed_successfully' });
  });

  it('runs Temporal on PostgreSQL with the postgres12 schema', () => {
    expect(services.temporal.image).toMatch(/^temporalio\/auto-setup:1\.(2|3)\d\./);
    expect(environment(services.temporal)).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
    expect(services.postgresql.image).toBe('postgres:16');
  });

  it('keeps local state out of the image build context', () => {
    const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.devstack', '.git', 'test-artifacts', 'bench/results']));
  });
});
