import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, redactConfig, redactUrl, redactUrlsIn } from '../../src/runtime/config';
import { captureLogs } from '../support/helpers';
import { runKto } from '../support/run-cli';

const SECRET = 'hunter2-sasl-Zq8';

describe('log redaction', () => {
  it('masks passwords nested in logged objects, wherever they sit', () => {
    const { logger, text } = captureLogs();
    const config = loadConfig({ KTO_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KTO_KAFKA_SASL_USERNAME: 'svc-kto', KTO_KAFKA_SASL_PASSWORD: SECRET });
    logger.info({ config }, 'whole config, unmasked by the caller');
    logger.info({ kafka: config.kafka }, 'kafka part');
    logger.child({ namespace: 'smtp' }).info({ smtp: { auth: { user: 'u', pass: SECRET } } }, 'nodemailer-style auth');
    logger.info({ sasl: { mechanism: 'plain', username: 'u', password: SECRET } }, 'kafkajs-style sasl');
    logger.info({ password: SECRET }, 'top level');
    const out = text();
    expect(out).toContain('svc-kto');
    expect(out).toContain('[redacted]');
    expect(out).not.toContain(SECRET);
    expect(out.split('\n').filter(Boolean)).toHaveLength(5);
  });

  it('redactConfig masks the SASL password from a properties file', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-redact-'));
    const file = path.join(dir, 'kafka.properties');
    writeFileSync(file, `bootstrap.servers=b1:9092\nsecurity.protocol=SASL_SSL\nsasl.mechanisms=PLAIN\nsasl.username=svc-kto\nsasl.password=${SECRET}\n`);
    const config = loadConfig({ KTO_KAFKA_CONFIG_FILE: file });
    expect(config.kafka.saslPassword).toBe(SECRET);
    expect(JSON.stringify(redactConfig(config))).not.toContain(SECRET);
  });

  it('`kto worker` logs its effective config without the SASL password (env and properties file)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kto-redact-'));
    const file = path.join(dir, 'kafka.properties');
    writeFileSync(file, `bootstrap.servers=127.0.0.1:1\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanisms=PLAIN\nsasl.username=svc-kto\nsasl.password=${SECRET}-file\n`);
    const env = {
      KTO_LOG_LEVEL: 'info',
      KTO_METRICS_PORT: '0',
      KTO_KAFKA_CONFIG_FILE: file,
      KTO_KAFKA_SASL_PASSWORD: SECRET,
      // Nothing listens there: the worker logs its config, fails to connect and exits.
      KTO_TEMPORAL_ADDRESS: '127.0.0.1:1',
      KTO_STAGING_DIR: dir,
    };
    const { stdout, stderr } = await runKto(['worker'], env, 60_000);
    const out = stdout + stderr;
    expect(out).toContain('worker starting');
    expect(out).toContain('svc-kto');
    expect(out).not.toContain(SECRET);
  }, 60_000);
});

describe('URLs in logs and messages', () => {
  test('lose their user and password and the values of query parameters that name a secret, nothing else', () => {
    expect(redactUrl('https://key:s3cret@psrc.example.cloud/apis?token=t0k&results=5')).toBe('https://redacted@psrc.example.cloud/apis?token=redacted&results=5');
    expect(redactUrl('http://127.0.0.1:8081/apis/ccompat/v7')).toBe('http://127.0.0.1:8081/apis/ccompat/v7');
    expect(JSON.stringify(redactConfig({ schemaRegistry: { url: 'https://key:s3cret@psrc.example.cloud' } }))).not.toContain('s3cret');
  });

  test('in a text, lose their secrets whatever their scheme; URLs without one stay as written', () => {
    const text = 'GET https://key:s3cret@psrc.example.cloud/apis?token=t0k. then kafka://svc:pw-Zq8@broker:9093 and "sasl_ssl://u:p@x:1", see https://example.com/a?b=1.';
    expect(redactUrlsIn(text)).toBe(
      'GET https://redacted@psrc.example.cloud/apis?token=redacted. then kafka://redacted@broker:9093 and "sasl_ssl://redacted@x:1", see https://example.com/a?b=1.',
    );
    const { logger, text: logged } = captureLogs();
    logger.warn({ err: 'connect to kafka://svc:pw-Zq8@broker:9093 failed', url: 'https://h/api?api_key=k3y' }, 'x');
    expect(logged()).not.toMatch(/pw-Zq8|k3y/);
  });
});
