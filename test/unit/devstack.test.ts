import { pbkdf2Sync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, loadConfig, parseProperties } from '../../src/runtime/config';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import { withInstallLock } from '../../src/devstack/install-lock';
import { createDevStack } from '../../src/devstack/dev-stack';
import { kafkaPaths, renderKafkaPom } from '../../src/devstack/install';
import { kafkaServiceName, newClusterId, readKafkaData, renderLogConfig, renderServerProperties } from '../../src/devstack/kafka';
import { claimSaslUsers, kafkaSaslEndpoint, renderClientProperties, saslServerProperties, scramCredentialArg } from '../../src/devstack/kafka-sasl';
import { KAFKA_VERSION } from '../../src/devstack/kafka-version';
import { stackPaths } from '../../src/devstack/service';
import { findFreePorts, findFreeStackPorts, isPortFree, kafkaNodes, portInUseError } from '../../src/devstack/ports';
import { temporalArgs } from '../../src/devstack/temporal';

describe('Kafka server.properties', () => {
  const node = { id: 1, port: 19092, controllerPort: 19093, saslPort: 19192 };
  const props = parseProperties(renderServerProperties({ node, nodes: [node], logDir: '/tmp/k' }));

  it('runs one KRaft node that advertises the loopback listener it binds', () => {
    expect(props).toMatchObject({
      'process.roles': 'broker,controller',
      'controller.quorum.voters': '1@127.0.0.1:19093',
      listeners: 'PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093',
      'advertised.listeners': 'PLAINTEXT://127.0.0.1:19092',
      'log.dirs': '/tmp/k',
    });
  });

  it('sets the single-node replication that groups and transactions need', () => {
    expect(props).toMatchObject({
      'offsets.topic.replication.factor': '1',
      'transaction.state.log.replication.factor': '1',
      'transaction.state.log.min.isr': '1',
    });
  });

  it('runs three nodes as one quorum, each topic on all three, a write safe once two have it', () => {
    const nodes = kafkaNodes({ kafka: 19092, kafkaController: 19093, kafkaSasl: 19192 }, 3);
    expect(nodes).toEqual([
      { id: 1, port: 19092, controllerPort: 19093, saslPort: 19192 },
      { id: 2, port: 19094, controllerPort: 19095, saslPort: 19194 },
      { id: 3, port: 19096, controllerPort: 19097, saslPort: 19196 },
    ]);
    const second = parseProperties(renderServerProperties({ node: nodes[1], nodes, logDir: '/tmp/k2' }));
    expect(second).toMatchObject({
      'node.id': '2',
      'controller.quorum.voters': '1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097',
      listeners: 'PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095',
      'advertised.listeners': 'PLAINTEXT://127.0.0.1:19094',
      'default.replication.factor': '3',
      'min.insync.replicas': '2',
      'offsets.topic.replication.factor': '3',
      'transaction.state.log.replication.factor': '3',
      'transaction.state.log.min.isr': '2',
    });
    expect(props).toMatchObject({ 'default.replication.factor': '1', 'min.insync.replicas': '1' });
  });

  it('names the first node kafka and the others kafka-<id>', () => {
    expect([1, 2, 3].map(kafkaServiceName)).toEqual(['kafka', 'kafka-2', 'kafka-3']);
  });

  it('makes cluster ids in Kafka format', () => {
    for (let i = 0; i < 200; i++) expect(newClusterId()).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });
});

describe('Kafka SASL_SSL listener', () => {
  const paths = stackPaths('/s');
  const users = { PLAIN: { username: 'kto_plain', password: 'plain-pw-1' }, 'SCRAM-SHA-512': { username: 'kto_scram', password: 'scram-pw-2' } };
  const nodes = kafkaNodes({ kafka: 19092, kafkaController: 19093, kafkaSasl: 19192 }, 3);

  it('adds a SASL_SSL client listener beside PLAINTEXT, which the nodes and the quorum keep', () => {
    const props = parseProperties(renderServerProperties({ node: nodes[1], nodes, logDir: '/tmp/k2', sasl: saslServerProperties(paths, users) }));
    expect(props).toMatchObject({
      listeners: 'PLAINTEXT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095,SASL_SSL://127.0.0.1:19194',
      'advertised.listeners': 'PLAINTEXT://127.0.0.1:19094,SASL_SSL://127.0.0.1:19194',
      'inter.broker.listener.name': 'PLAINTEXT',
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL',
      'listener.name.sasl_ssl.sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-512',
      'listener.name.sasl_ssl.plain.sasl.jaas.config': 'org.apache.kafka.common.security.plain.PlainLoginModule required user_kto_plain="plain-pw-1";',
      'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required;',
      'listener.name.sasl_ssl.ssl.keystore.type': 'PEM',
      'listener.name.sasl_ssl.ssl.keystore.location': '/s/run/kafka-sasl/broker.pem',
    });
    // The SCRAM password is in the metadata, not in server.properties.
    expect(JSON.stringify(props)).not.toContain('scram-pw-2');
  });

  it('writes client settings in the seed pipelines\' librdkafka properties format, one file per mechanism', () => {
    const endpoint = kafkaSaslEndpoint(paths, nodes);
    expect(endpoint).toEqual({
      brokers: ['127.0.0.1:19192', '127.0.0.1:19194', '127.0.0.1:19196'],
      caFile: '/s/run/kafka-sasl/ca.pem',
      configFiles: { PLAIN: '/s/run/kafka-sasl/plain.properties', 'SCRAM-SHA-512': '/s/run/kafka-sasl/scram-sha-512.properties' },
    });
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'kto-sasl-')), 'scram.properties');
    writeFileSync(file, renderClientProperties(endpoint, 'SCRAM-SHA-512', users['SCRAM-SHA-512']));
    expect(loadConfig({ KTO_KAFKA_CONFIG_FILE: file }).kafka).toEqual({
      brokers: endpoint.brokers,
      clientId: 'kto',
      securityProtocol: 'SASL_SSL',
      saslMechanism: 'SCRAM-SHA-512',
      saslUsername: 'kto_scram',
      saslPassword: 'scram-pw-2',
      sslCaLocation: '/s/run/kafka-sasl/ca.pem',
      ignoredProperties: [],
    });
    rmSync(path.dirname(file), { recursive: true });
  });

  it('gives kafka-storage a SCRAM user as salt and salted password, never the password', () => {
    const arg = scramCredentialArg(users['SCRAM-SHA-512']);
    const m = /^SCRAM-SHA-512=\[name=kto_scram,iterations=(\d+),salt="([^"]+)",saltedpassword="([^"]+)"\]$/.exec(arg);
    expect(m).not.toBeNull();
    expect(arg).not.toContain('scram-pw-2');
    const [, iterations, salt, salted] = m!;
    expect(pbkdf2Sync('scram-pw-2', Buffer.from(salt, 'base64'), Number(iterations), 64, 'sha512').toString('base64')).toBe(salted);
  });

  it('makes random users with the data, keeps them, and refuses data formatted without them', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-stack-'));
    try {
      const p = stackPaths(dir);
      expect(() => claimSaslUsers(p, false)).toThrow(/formatted without SASL users/);
      const made = claimSaslUsers(p, true);
      expect(made.PLAIN.password).toMatch(/^[\w-]{24}$/);
      expect(made['SCRAM-SHA-512'].password).not.toBe(made.PLAIN.password);
      expect(statSync(path.join(dir, 'data', 'kafka-sasl-users.json')).mode & 0o777).toBe(0o600);
      expect(claimSaslUsers(p, false)).toEqual(made);
      const ports = { temporal: 1, temporalUi: 2, kafka: 3, kafkaController: 4, kafkaSasl: 8, smtp: 5, smtpControl: 6, schemaRegistry: 7 };
      // Data with the users runs the listener unless told otherwise.
      expect(createDevStack({ dir, ports }).kafkaSasl).toBe(true);
      expect(createDevStack({ dir, ports }).endpoints().kafkaSasl?.brokers).toEqual(['127.0.0.1:8']);
      expect(createDevStack({ dir, ports, kafkaSasl: false }).endpoints().kafkaSasl).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Kafka release', () => {
  const ports = { temporal: 1, temporalUi: 2, kafka: 3, kafkaController: 4, kafkaSasl: 8, smtp: 5, smtpControl: 6, schemaRegistry: 7 };

  it('runs 3.9.1 unless KTO_DEV_KAFKA_VERSION picks a 3.9 or 4.x release', () => {
    expect(KAFKA_VERSION).toBe('3.9.1');
    expect(loadConfig({}).devstack.kafkaVersion).toBe('3.9.1');
    for (const version of ['3.9.0', '3.9.1', '4.0.0', '4.1.1', '4.4.0']) {
      expect(loadConfig({ KTO_DEV_KAFKA_VERSION: version }).devstack.kafkaVersion).toBe(version);
      expect(createDevStack({ dir: '/tmp/s', ports, kafkaVersion: version }).kafkaVersion).toBe(version);
    }
  });

  it('runs 1 or 3 brokers, and a stack keeps the count and release its data was formatted for', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-stack-'));
    try {
      expect(createDevStack({ dir, ports }).serviceNames).toEqual(['temporal', 'kafka', 'smtp', 'schema-registry']);
      expect(createDevStack({ dir, ports, brokers: 3 }).serviceNames).toEqual(['temporal', 'kafka', 'kafka-2', 'kafka-3', 'smtp', 'schema-registry']);
      expect(() => createDevStack({ dir, ports, brokers: 2 })).toThrow('1 or 3 Kafka brokers, not 2');
      mkdirSync(path.join(dir, 'data'));
      writeFileSync(path.join(dir, 'data', 'kafka.json'), JSON.stringify({ version: '4.1.1', brokers: 3, clusterId: 'x' }));
      expect(createDevStack({ dir, ports }).serviceNames).toContain('kafka-3');
      expect(createDevStack({ dir, ports }).endpoints().kafkaBrokers).toEqual(['127.0.0.1:3', '127.0.0.1:5', '127.0.0.1:7']);
      // Data from before the record: one 3.9.1 node.
      rmSync(path.join(dir, 'data', 'kafka.json'));
      mkdirSync(path.join(dir, 'data', 'kafka'));
      writeFileSync(path.join(dir, 'data', 'kafka', 'meta.properties'), 'version=1\ncluster.id=abc\nnode.id=1\n');
      expect(readKafkaData(path.join(dir, 'data'))).toEqual({ version: '3.9.1', brokers: 1, clusterId: 'abc' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a release the stack cannot run, naming the variable and what it accepts', () => {
    for (const version of ['3.8.1', '4.1', '2.8.2', 'latest', '4.1.1-rc1', '5.0.0']) {
      let err: unknown;
      try {
        loadConfig({ KTO_DEV_KAFKA_VERSION: version });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toMatch(/KTO_DEV_KAFKA_VERSION.*3\.9 or 4\.x/);
      expect(() => createDevStack({ dir: '/tmp/s', ports, kafkaVersion: version })).toThrow(`cannot run Kafka "${version}"`);
    }
  });

  it('keeps each release in a cache folder of its own, storage template included', () => {
    const [a, b] = [kafkaPaths('/c', '3.9.1'), kafkaPaths('/c', '4.1.1')];
    expect(a).toEqual({ dir: '/c/kafka/3.9.1', lib: '/c/kafka/3.9.1/lib', stamp: '/c/kafka/3.9.1/.kto-installed', storageTemplate: '/c/kafka/3.9.1/storage-template' });
    expect(b.dir).toBe('/c/kafka/4.1.1');
    expect(b.storageTemplate).toBe('/c/kafka/4.1.1/storage-template');
  });

  it('installs the slf4j binding and log configuration each line ships: reload4j for 3.9, log4j2 for 4.x', () => {
    expect(renderKafkaPom('3.9.1')).toContain('<artifactId>slf4j-reload4j</artifactId>');
    expect(renderKafkaPom('4.1.1')).toContain('<artifactId>log4j-slf4j-impl</artifactId>');
    expect(renderKafkaPom('4.1.1')).toMatch(/<artifactId>kafka_2\.13<\/artifactId>\s*<version>4\.1\.1<\/version>/);
    const [v3, v4] = [renderLogConfig('3.9.1'), renderLogConfig('4.1.1')];
    expect([v3.fileName, v3.jvmFlag('/r/f')]).toEqual(['log4j.properties', '-Dlog4j.configuration=file:/r/f']);
    expect([v4.fileName, v4.jvmFlag('/r/f')]).toEqual(['log4j2.properties', '-Dlog4j2.configurationFile=/r/f']);
    // Both keep the one line that says the broker started.
    expect(parseProperties(v3.text)['log4j.logger.kafka.server.KafkaRaftServer']).toBe('INFO');
    expect(parseProperties(v4.text)).toMatchObject({ 'logger.started.name': 'kafka.server.KafkaRaftServer', 'logger.started.level': 'INFO', 'rootLogger.level': 'WARN' });
  });
});

describe('Temporal dev server arguments', () => {
  const ports = { temporal: 1, temporalUi: 2, kafka: 3, kafkaController: 4, smtp: 5, smtpControl: 6 };
  const args = temporalArgs({ ports, dbFile: '/d/t.sqlite', httpPort: 7, metricsPort: 8 });
  const value = (flag: string) => args[args.indexOf(flag) + 1];

  it('pins every listener to a chosen port', () => {
    expect([value('--port'), value('--ui-port'), value('--http-port'), value('--metrics-port')]).toEqual(['1', '2', '7', '8']);
    expect(value('--db-filename')).toBe('/d/t.sqlite');
  });

  it('keeps the SQLite file in write-ahead-log mode, synced at checkpoints rather than at every commit', () => {
    const pragmas = args.filter((_, i) => args[i - 1] === '--sqlite-pragma');
    expect(pragmas).toEqual(['journal_mode=wal', 'synchronous=normal']);
  });

  it('registers every kto search attribute', () => {
    const registered = args.filter((_, i) => args[i - 1] === '--search-attribute');
    expect(registered).toEqual(Object.entries(SEARCH_ATTRIBUTES).map(([k, t]) => `${k}=${t}`));
  });
});

describe('ports', () => {
  it('names the port, the variable that moves it and where to look', () => {
    const err = portInUseError('kafka', 'kafka', 9092);
    expect(err.message).toContain('port 9092');
    expect(err.fix).toContain('KTO_DEV_KAFKA_PORT');
    expect(err.fix).toContain('kto dev status');
  });

  it('sees a port someone listens on as taken', async () => {
    const [port] = await findFreePorts(1);
    expect(await isPortFree(port)).toBe(true);
    const server = net.createServer().listen(port, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      expect(await isPortFree(port)).toBe(false);
    } finally {
      server.close();
    }
  });

  it('gives the nodes of a three-broker stack a run of consecutive free ports apart from the others', async () => {
    const ports = await findFreeStackPorts({ kafkaBrokers: 3 });
    const kafka = kafkaNodes(ports, 3).flatMap((n) => [n.port, n.controllerPort]);
    expect(kafka).toEqual(Array.from({ length: 6 }, (_, i) => ports.kafka + i));
    const sasl = kafkaNodes(ports, 3).map((n) => n.saslPort);
    expect(sasl).toEqual([0, 2, 4].map((i) => ports.kafkaSasl + i));
    const all = [...Object.values(ports), ...kafka, ...sasl];
    expect(new Set(all).size).toBe(all.length - 3);
    for (const port of [...kafka, ...sasl]) expect(await isPortFree(port)).toBe(true);
  });

  it('hands out distinct free ports', async () => {
    const ports = await findFreePorts(6);
    expect(new Set(ports).size).toBe(6);
  });

  // An outgoing connection (one Kafka node dialing another) may take any port of the ephemeral
  // range before the service that was given it binds it; stack ports stay below that range.
  const ephemeral = existsSync('/proc/sys/net/ipv4/ip_local_port_range')
    ? readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    : undefined;
  (ephemeral ? it : it.skip)('draws stack ports from below the ephemeral port range', async () => {
    const ports = await findFreeStackPorts({ kafkaBrokers: 3 });
    const all = [...Object.values(ports), ...kafkaNodes(ports, 3).flatMap((n) => [n.port, n.controllerPort, n.saslPort])];
    for (const port of all) expect(port).toBeLessThan(ephemeral![0]);
    for (const port of await findFreePorts(20)) expect(port).toBeLessThan(ephemeral![0]);
  });
});

describe('install lock', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'kto-lock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('runs racing installs one after the other', async () => {
    const events: string[] = [];
    const install = (name: string) =>
      withInstallLock(path.join(dir, 'lock'), async () => {
        events.push(`${name}:start`);
        await sleep(100);
        events.push(`${name}:end`);
      });
    await Promise.all([install('a'), install('b')]);
    expect(events).toEqual(expect.arrayContaining(['a:start', 'a:end', 'b:start', 'b:end']));
    expect(events[1]).toBe(`${events[0].split(':')[0]}:end`);
  });
});
