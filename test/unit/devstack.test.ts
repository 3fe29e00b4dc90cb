import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, loadConfig, parseProperties } from '../../src/runtime/config';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import { withInstallLock } from '../../src/devstack/install-lock';
import { createDevStack } from '../../src/devstack/dev-stack';
import { kafkaPaths, renderKafkaPom } from '../../src/devstack/install';
import { newClusterId, renderLogConfig, renderServerProperties } from '../../src/devstack/kafka';
import { KAFKA_VERSION } from '../../src/devstack/kafka-version';
import { findFreePorts, isPortFree, portInUseError } from '../../src/devstack/ports';
import { temporalArgs } from '../../src/devstack/temporal';

describe('Kafka server.properties', () => {
  const props = parseProperties(renderServerProperties({ port: 19092, controllerPort: 19093, logDir: '/tmp/k' }));

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

  it('makes cluster ids in Kafka format', () => {
    for (let i = 0; i < 200; i++) expect(newClusterId()).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
  });
});

describe('Kafka release', () => {
  const ports = { temporal: 1, temporalUi: 2, kafka: 3, kafkaController: 4, smtp: 5, smtpControl: 6, schemaRegistry: 7 };

  it('runs 3.9.1 unless KTO_DEV_KAFKA_VERSION picks a 3.9 or 4.x release', () => {
    expect(KAFKA_VERSION).toBe('3.9.1');
    expect(loadConfig({}).devstack.kafkaVersion).toBe('3.9.1');
    for (const version of ['3.9.0', '3.9.1', '4.0.0', '4.1.1', '4.4.0']) {
      expect(loadConfig({ KTO_DEV_KAFKA_VERSION: version }).devstack.kafkaVersion).toBe(version);
      expect(createDevStack({ dir: '/tmp/s', ports, kafkaVersion: version }).kafkaVersion).toBe(version);
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

  it('hands out distinct free ports', async () => {
    const ports = await findFreePorts(6);
    expect(new Set(ports).size).toBe(6);
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
