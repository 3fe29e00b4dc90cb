import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, ENV_KEYS, loadConfig, parseProperties, REDACTED, redactConfig } from '../../src/runtime/config';
import { kafkaClientOptions } from '../../src/kafka/client';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kto-config-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
/** Writes a properties file and returns the env that points kto at it. */
function propertiesFile(text: string, env: Record<string, string> = {}): Record<string, string> {
  const file = path.join(dir, `client-${++fileCount}.properties`);
  writeFileSync(file, text);
  return { ...env, KTO_KAFKA_CONFIG_FILE: file };
}

/** The ConfigError a call throws; fails the test if it throws nothing or something else. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}

const SEED_PROPERTIES = `# Kafka client settings, as the Airflow pipelines had them
bootstrap.servers=pkc-123.eu-west-1.aws.confluent.cloud:9092,pkc-456.eu-west-1.aws.confluent.cloud:9092
security.protocol=SASL_SSL
sasl.mechanisms=PLAIN
sasl.username=ABCDEF
sasl.password=s3cret

# consumer tuning kto does not use
session.timeout.ms=45000
`;

describe('loadConfig defaults', () => {
  const config = loadConfig({});

  it('points Kafka at the local stack over PLAINTEXT', () => {
    expect(config.kafka).toMatchObject({
      brokers: ['127.0.0.1:9092'],
      clientId: 'kto',
      securityProtocol: 'PLAINTEXT',
      saslMechanism: 'PLAIN',
      ignoredProperties: [],
    });
    expect(config.kafka.saslUsername).toBeUndefined();
    expect(config.kafka.saslPassword).toBeUndefined();
  });

  it('points Temporal and SMTP at the local stack', () => {
    expect(config.temporal).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'kto' });
    expect(config.smtp).toMatchObject({ host: '127.0.0.1', port: 1025, secure: false, from: 'kto <kto@localhost>' });
  });

  it('uses the local stack ports and an absolute devstack dir', () => {
    expect(config.devstack.ports).toEqual({ temporal: 7233, temporalUi: 8233, kafka: 9092, kafkaController: 9093, kafkaSasl: 9192, smtp: 1025, smtpControl: 1080, schemaRegistry: 8081 });
    expect(path.isAbsolute(config.devstack.dir)).toBe(true);
    expect(path.basename(config.devstack.dir)).toBe('.devstack');
    expect(path.isAbsolute(config.stagingDir)).toBe(true);
    expect(config.logLevel).toBe('info');
    expect(config.metricsPort).toBe(0);
    expect(config.stepThreads).toBe(os.availableParallelism());
    expect(config.stepHeapMb).toBe(160);
  });

  it('leaves the SASL_SSL listener to the stack data unless KTO_DEV_KAFKA_SASL says', () => {
    expect(config.devstack.kafkaSasl).toBeUndefined();
    expect(loadConfig({ KTO_DEV_KAFKA_SASL: '1' }).devstack.kafkaSasl).toBe(true);
    expect(loadConfig({ KTO_DEV_KAFKA_SASL: 'false' }).devstack.kafkaSasl).toBe(false);
    expect(() => loadConfig({ KTO_DEV_KAFKA_SASL: 'yes' })).toThrow(/KTO_DEV_KAFKA_SASL/);
  });

  it('derives client addresses from the dev stack ports when they are moved', () => {
    const moved = loadConfig({ KTO_DEV_KAFKA_PORT: '19092', KTO_DEV_TEMPORAL_PORT: '17233', KTO_DEV_SMTP_PORT: '11025' });
    expect(moved.kafka.brokers).toEqual(['127.0.0.1:19092']);
    expect(moved.temporal.address).toBe('127.0.0.1:17233');
    expect(moved.smtp.port).toBe(11025);
    expect(moved.devstack.ports.kafka).toBe(19092);
  });

  it('lets explicit addresses win over the dev stack ports', () => {
    const c = loadConfig({ KTO_DEV_KAFKA_PORT: '19092', KTO_KAFKA_BROKERS: 'broker-1:9092, broker-2:9093' });
    expect(c.kafka.brokers).toEqual(['broker-1:9092', 'broker-2:9093']);
  });

  it('coerces and validates the remaining env values', () => {
    const c = loadConfig({ KTO_SMTP_SECURE: '1', KTO_SMTP_PORT: '465', KTO_LOG_LEVEL: 'debug', KTO_METRICS_PORT: '9464', KTO_STEP_THREADS: '0', KTO_STEP_HEAP_MB: '512' });
    expect(c.smtp).toMatchObject({ secure: true, port: 465 });
    expect(c.logLevel).toBe('debug');
    expect(c.metricsPort).toBe(9464);
    expect(c.stepThreads).toBe(0);
    expect(c.stepHeapMb).toBe(512);
    expect(() => loadConfig({ KTO_STEP_THREADS: '-1' })).toThrow(/KTO_STEP_THREADS.*0 to 256/);
    expect(() => loadConfig({ KTO_STEP_HEAP_MB: '8' })).toThrow(/KTO_STEP_HEAP_MB.*at least 32/);
  });

  it('serves /metrics on this machine only unless KTO_METRICS_HOST says otherwise', () => {
    expect(config.metricsHost).toBe('127.0.0.1');
    expect(loadConfig({ KTO_METRICS_HOST: '0.0.0.0' }).metricsHost).toBe('0.0.0.0');
    expect(loadConfig({ KTO_METRICS_HOST: '::' }).metricsHost).toBe('::');
    expect(loadConfig({ KTO_METRICS_HOST: 'kto-worker' }).metricsHost).toBe('kto-worker');
    expect(() => loadConfig({ KTO_METRICS_HOST: 'http://0.0.0.0' })).toThrow(/KTO_METRICS_HOST: must be an IP address or host name.*0\.0\.0\.0/);
    expect(ENV_KEYS).toContain('KTO_METRICS_HOST');
  });
});

describe('parseProperties', () => {
  it('reads key=value lines and skips comments and blank lines', () => {
    const props = parseProperties('# comment\n! also a comment\n\n  a.b = 1  \r\nc=two words\n');
    expect(props).toEqual({ 'a.b': '1', c: 'two words' });
  });

  it('keeps "=" inside values', () => {
    expect(parseProperties('sasl.password=a=b')).toEqual({ 'sasl.password': 'a=b' });
    expect(parseProperties('sasl.jaas.config=x required username="u" password="p==";')['sasl.jaas.config']).toBe(
      'x required username="u" password="p==";',
    );
  });

  it('rejects a line without "=", naming the source, the line and the fix', () => {
    const err = configError(() => parseProperties('a=1\nbootstrap.servers localhost:9092\n', 'client.properties'));
    expect(err.problems).toHaveLength(1);
    expect(err.message).toContain('client.properties:2');
    expect(err.message).toContain('bootstrap.servers localhost:9092');
    expect(err.message).toMatch(/Fix: .*key=value/);
  });

  it('rejects a line with an empty key', () => {
    const err = configError(() => parseProperties('=value'));
    expect(err.problems[0]).toContain('expected key=value');
  });

  it('reports every bad line at once', () => {
    expect(configError(() => parseProperties('one\ntwo\nok=1\n')).problems).toHaveLength(2);
  });
});

describe('loadConfig with a properties file', () => {
  it('reads the seed-style SASL_SSL file into the kafka section', () => {
    const { kafka } = loadConfig(propertiesFile(SEED_PROPERTIES));
    expect(kafka).toMatchObject({
      brokers: ['pkc-123.eu-west-1.aws.confluent.cloud:9092', 'pkc-456.eu-west-1.aws.confluent.cloud:9092'],
      securityProtocol: 'SASL_SSL',
      saslMechanism: 'PLAIN',
      saslUsername: 'ABCDEF',
      saslPassword: 's3cret',
    });
  });

  it('reports keys kto does not use in ignoredProperties', () => {
    const { kafka } = loadConfig(propertiesFile(SEED_PROPERTIES));
    expect(kafka.ignoredProperties).toEqual(['session.timeout.ms']);
  });

  it('keeps "=" inside a password', () => {
    const { kafka } = loadConfig(propertiesFile('security.protocol=SASL_SSL\nsasl.username=u\nsasl.password=a=b\n'));
    expect(kafka.saslPassword).toBe('a=b');
  });

  it.each(['SCRAM-SHA-256', 'SCRAM-SHA-512', 'scram-sha-512'])('accepts sasl.mechanisms=%s', (mechanism) => {
    const { kafka } = loadConfig(propertiesFile(`security.protocol=SASL_SSL\nsasl.mechanisms=${mechanism}\nsasl.username=u\nsasl.password=p\n`));
    expect(kafka.saslMechanism).toBe(mechanism.toUpperCase());
  });

  it('reads the librdkafka aliases sasl.mechanism and metadata.broker.list', () => {
    const { kafka } = loadConfig(
      propertiesFile('metadata.broker.list=b1:9092\nsecurity.protocol=sasl_ssl\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=u\nsasl.password=p\n'),
    );
    expect(kafka).toMatchObject({ brokers: ['b1:9092'], securityProtocol: 'SASL_SSL', saslMechanism: 'SCRAM-SHA-256', ignoredProperties: [] });
  });

  it('lets environment variables override the file', () => {
    const env = propertiesFile(SEED_PROPERTIES, {
      KTO_KAFKA_BROKERS: 'override:9094',
      KTO_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KTO_KAFKA_SASL_PASSWORD: 'from-env',
    });
    const { kafka } = loadConfig(env);
    expect(kafka).toMatchObject({ brokers: ['override:9094'], saslMechanism: 'SCRAM-SHA-512', saslPassword: 'from-env', saslUsername: 'ABCDEF' });
  });

  it('names the file and line of a malformed property', () => {
    const env = propertiesFile('bootstrap.servers=b:9092\nsasl.username\n');
    const err = configError(() => loadConfig(env));
    expect(err.message).toContain(`${env.KTO_KAFKA_CONFIG_FILE}:2`);
    expect(err.message).toContain('Fix:');
  });

  it('explains an unreadable file path', () => {
    const missing = path.join(dir, 'does-not-exist.properties');
    const err = configError(() => loadConfig({ KTO_KAFKA_CONFIG_FILE: missing }));
    expect(err.message).toContain('KTO_KAFKA_CONFIG_FILE');
    expect(err.message).toContain(missing);
    expect(err.message).toContain('ENOENT');
    expect(err.message).toMatch(/Fix: .*readable/);
  });
});

describe('loadConfig errors name the key and the fix', () => {
  it('SASL without credentials', () => {
    const err = configError(() => loadConfig(propertiesFile('bootstrap.servers=b:9092\nsecurity.protocol=SASL_SSL\n')));
    expect(err.problems).toHaveLength(1);
    expect(err.message).toContain('KTO_KAFKA_SASL_USERNAME');
    expect(err.message).toContain('security.protocol=SASL_SSL needs sasl.username and sasl.password');
  });

  it('SASL with a username but no password', () => {
    const err = configError(() => loadConfig({ KTO_KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KTO_KAFKA_SASL_USERNAME: 'u' }));
    expect(err.message).toContain('KTO_KAFKA_SASL_PASSWORD');
  });

  it('a broker without a port', () => {
    const err = configError(() => loadConfig({ KTO_KAFKA_BROKERS: 'localhost' }));
    expect(err.message).toContain('KTO_KAFKA_BROKERS (bootstrap.servers)');
    expect(err.message).toMatch(/host:port, e\.g\. localhost:9092/);
  });

  it('an empty broker list', () => {
    const err = configError(() => loadConfig({ KTO_KAFKA_BROKERS: ' , ' }));
    expect(err.message).toContain('KTO_KAFKA_BROKERS');
  });

  it('an unsupported SASL mechanism', () => {
    const err = configError(() => loadConfig(propertiesFile('sasl.mechanisms=GSSAPI\n')));
    expect(err.message).toContain('KTO_KAFKA_SASL_MECHANISM (sasl.mechanisms)');
    expect(err.message).toContain('SCRAM-SHA-512');
  });

  it('an unknown security protocol', () => {
    const err = configError(() => loadConfig({ KTO_KAFKA_SECURITY_PROTOCOL: 'TLS' }));
    expect(err.message).toContain('KTO_KAFKA_SECURITY_PROTOCOL (security.protocol)');
    expect(err.message).toContain('SASL_SSL');
  });

  it.each(['abc', '0', '70000', '25.5'])('KTO_SMTP_PORT=%s', (value) => {
    const err = configError(() => loadConfig({ KTO_SMTP_PORT: value }));
    expect(err.problems).toEqual(['KTO_SMTP_PORT: must be a port number from 1 to 65535, e.g. 1025']);
  });

  it('a bad metrics port', () => {
    const err = configError(() => loadConfig({ KTO_METRICS_PORT: 'nine' }));
    expect(err.message).toContain('KTO_METRICS_PORT: must be a port number, or 0 to turn /metrics off');
  });

  it('a Temporal address without a port', () => {
    const err = configError(() => loadConfig({ KTO_TEMPORAL_ADDRESS: 'temporal' }));
    expect(err.message).toContain('KTO_TEMPORAL_ADDRESS: must be host:port');
  });

  it('a TLS certificate without its key', () => {
    const err = configError(() => loadConfig({ KTO_TEMPORAL_TLS_CERT: '/certs/client.pem' }));
    expect(err.message).toContain('KTO_TEMPORAL_TLS_CERT');
    expect(err.message).toContain('KTO_TEMPORAL_TLS_KEY');
    expect(err.message).toMatch(/set both for mTLS, or neither/);
  });

  it('a TLS key without its certificate', () => {
    expect(configError(() => loadConfig({ KTO_TEMPORAL_TLS_KEY: '/certs/client.key' })).message).toContain('KTO_TEMPORAL_TLS_CERT');
  });

  it('a bad boolean and a bad log level', () => {
    const err = configError(() => loadConfig({ KTO_SMTP_SECURE: 'yes', KTO_LOG_LEVEL: 'loud' }));
    expect(err.problems).toHaveLength(2);
    expect(err.message).toContain('KTO_SMTP_SECURE');
    expect(err.message).toContain('KTO_LOG_LEVEL');
  });

  it('every field problem at once, each on its own line', () => {
    const err = configError(() => loadConfig({ KTO_KAFKA_BROKERS: 'localhost', KTO_SMTP_PORT: 'abc', KTO_LOG_LEVEL: 'loud' }));
    expect(err.problems).toHaveLength(3);
    expect(err.message.split('\n')).toHaveLength(4);
    expect(err.name).toBe('ConfigError');
  });
});

describe('ENV_KEYS', () => {
  it('lists every variable kto reads, once, sorted', () => {
    expect(ENV_KEYS).toEqual([...new Set(ENV_KEYS)].sort());
    expect(ENV_KEYS.every((k) => /^KTO_[A-Z0-9_]+$/.test(k))).toBe(true);
    for (const key of ['KTO_KAFKA_BROKERS', 'KTO_KAFKA_CONFIG_FILE', 'KTO_KAFKA_SASL_PASSWORD', 'KTO_TEMPORAL_API_KEY', 'KTO_SMTP_PASSWORD', 'KTO_DEVSTACK_DIR']) {
      expect(ENV_KEYS).toContain(key);
    }
  });
});

describe('redactConfig', () => {
  const config = loadConfig({
    KTO_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
    KTO_KAFKA_SASL_USERNAME: 'alice',
    KTO_KAFKA_SASL_PASSWORD: 'kafka-secret',
    KTO_SMTP_USER: 'mailer',
    KTO_SMTP_PASSWORD: 'smtp-secret',
    KTO_TEMPORAL_API_KEY: 'temporal-key',
  });
  const redacted = redactConfig(config);

  it('replaces every secret', () => {
    expect(redacted.kafka.saslPassword).toBe(REDACTED);
    expect(redacted.smtp.password).toBe(REDACTED);
    expect(redacted.temporal.apiKey).toBe(REDACTED);
    const text = JSON.stringify(redacted);
    for (const secret of ['kafka-secret', 'smtp-secret', 'temporal-key']) expect(text).not.toContain(secret);
  });

  it('keeps everything else', () => {
    expect(redacted.kafka).toMatchObject({ saslUsername: 'alice', brokers: config.kafka.brokers, securityProtocol: 'SASL_SSL' });
    expect(redacted.smtp).toMatchObject({ user: 'mailer', host: config.smtp.host, port: config.smtp.port });
    expect(redacted.temporal.address).toBe(config.temporal.address);
    expect(redacted.devstack).toEqual(config.devstack);
  });

  it('returns a copy and leaves the original intact', () => {
    expect(config.kafka.saslPassword).toBe('kafka-secret');
    expect(redacted).not.toBe(config);
  });

  it('leaves unset secrets unset', () => {
    const plain = redactConfig(loadConfig({}));
    expect(plain.kafka.saslPassword).toBeUndefined();
    expect(plain.temporal.apiKey).toBeUndefined();
  });
});

describe('kafkaClientOptions', () => {
  it('maps SASL_SSL + SCRAM-SHA-512 to kafkajs ssl and sasl', () => {
    const { kafka } = loadConfig({
      KTO_KAFKA_BROKERS: 'b1:9093,b2:9093',
      KTO_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KTO_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KTO_KAFKA_SASL_USERNAME: 'alice',
      KTO_KAFKA_SASL_PASSWORD: 'pw',
    });
    const options = kafkaClientOptions(kafka);
    expect(options).toMatchObject({
      clientId: 'kto',
      brokers: ['b1:9093', 'b2:9093'],
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'alice', password: 'pw' },
    });
  });

  it('maps PLAINTEXT to ssl:false without sasl', () => {
    const options = kafkaClientOptions(loadConfig({}).kafka);
    expect(options.ssl).toBe(false);
    expect(options.sasl).toBeUndefined();
    expect(options.brokers).toEqual(['127.0.0.1:9092']);
  });

  it('maps SASL_PLAINTEXT to sasl without TLS', () => {
    const { kafka } = loadConfig({ KTO_KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT', KTO_KAFKA_SASL_USERNAME: 'u', KTO_KAFKA_SASL_PASSWORD: 'p' });
    const options = kafkaClientOptions(kafka);
    expect(options.ssl).toBe(false);
    expect(options.sasl).toEqual({ mechanism: 'plain', username: 'u', password: 'p' });
  });

  it('passes ssl.ca.location as the trusted CA for SSL', () => {
    const ca = path.join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const options = kafkaClientOptions(loadConfig(propertiesFile(`security.protocol=SSL\nssl.ca.location=${ca}\n`)).kafka);
    expect(options.ssl).toEqual({ ca: ['-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'] });
    expect(options.sasl).toBeUndefined();
  });

  it('names ssl.ca.location when its file cannot be read', () => {
    const missing = path.join(dir, 'no-such-ca.pem');
    const { kafka } = loadConfig(propertiesFile(`security.protocol=SSL\nssl.ca.location=${missing}\n`));
    expect(() => kafkaClientOptions(kafka)).toThrow(ConfigError);
    expect(() => kafkaClientOptions(kafka)).toThrow(`KTO_KAFKA_SSL_CA_LOCATION (ssl.ca.location): cannot read ${missing} (ENOENT)`);
  });
});
