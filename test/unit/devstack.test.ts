import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseProperties } from '../../src/runtime/config';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import { withInstallLock } from '../../src/devstack/install-lock';
import { newClusterId, renderServerProperties } from '../../src/devstack/kafka';
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
