import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, ENV_KEYS, loadConfig, redactConfig } from '../../src/runtime/config';

/** The schema registry's URL and credentials, from the environment and from the Airflow pipelines' properties file. */

const SECRET = 'Zq8-registry-secret';
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'kto-registry-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function propertiesFile(text: string): Record<string, string> {
  const file = path.join(dir, `client-${++files}.properties`);
  writeFileSync(file, text);
  return { KTO_KAFKA_CONFIG_FILE: file };
}

/** The problems of a configuration that does not load; none of them may quote a secret. */
function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain(SECRET);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

// The seed's file (Confluent Cloud): Kafka and the registry in one properties file.
const SEED = `bootstrap.servers=pkc-1.europe-west1.gcp.confluent.cloud:9092
security.protocol=SASL_SSL
sasl.mechanisms=PLAIN
sasl.username=CLUSTERKEY
sasl.password=cluster-${SECRET}
# Required connection configs for Confluent Cloud Schema Registry
schema.registry.url=https://psrc-1.europe-west1.gcp.confluent.cloud
basic.auth.credentials.source=USER_INFO
basic.auth.user.info=SRKEY:${SECRET}
`;

describe('schema registry settings', () => {
  it("reads the seed's schema.registry.url and basic.auth.user.info, and reports none of them as ignored", () => {
    const config = loadConfig(propertiesFile(SEED));
    expect(config.schemaRegistry).toEqual({ url: 'https://psrc-1.europe-west1.gcp.confluent.cloud', username: 'SRKEY', password: SECRET });
    expect(config.kafka.ignoredProperties).toEqual([]);
  });

  it('has no credentials by default', () => {
    expect(loadConfig({}).schemaRegistry).toEqual({ url: 'http://127.0.0.1:8081/apis/ccompat/v7' });
  });

  it('takes the environment over the file', () => {
    const config = loadConfig({ ...propertiesFile(SEED), KTO_SCHEMA_REGISTRY_URL: 'https://sr.example.com/v1', KTO_SCHEMA_REGISTRY_USER_INFO: 'envkey:env:secret' });
    // A password may hold colons; the user name ends at the first.
    expect(config.schemaRegistry).toEqual({ url: 'https://sr.example.com/v1', username: 'envkey', password: 'env:secret' });
  });

  it('moves credentials out of the URL into basic authentication, decoded', () => {
    const config = loadConfig({ KTO_SCHEMA_REGISTRY_URL: `https://svc:${SECRET}%40x@sr.example.com:8443/apis/ccompat/v7?x=1` });
    expect(config.schemaRegistry).toEqual({ url: 'https://sr.example.com:8443/apis/ccompat/v7?x=1', username: 'svc', password: `${SECRET}@x` });
    expect(loadConfig(propertiesFile(`schema.registry.url=https://svc:${SECRET}@sr.example.com\nbasic.auth.credentials.source=URL\n`)).schemaRegistry).toEqual({
      url: 'https://sr.example.com',
      username: 'svc',
      password: SECRET,
    });
  });

  it('takes a static bearer token, from the file or the environment', () => {
    const fromFile = loadConfig(propertiesFile(`schema.registry.url=https://sr.example.com\nbearer.auth.credentials.source=STATIC_TOKEN\nbearer.auth.token=${SECRET}\n`));
    expect(fromFile.schemaRegistry).toEqual({ url: 'https://sr.example.com', bearerToken: SECRET });
    expect(loadConfig({ KTO_SCHEMA_REGISTRY_BEARER_TOKEN: SECRET }).schemaRegistry.bearerToken).toBe(SECRET);
  });

  it("SASL_INHERIT uses Kafka's SASL user and password", () => {
    const config = loadConfig(propertiesFile(SEED.replace('basic.auth.credentials.source=USER_INFO', 'basic.auth.credentials.source=SASL_INHERIT')));
    expect(config.schemaRegistry).toMatchObject({ username: 'CLUSTERKEY', password: `cluster-${SECRET}` });
  });

  it('a named source wins over other credentials; the older schema.registry.-prefixed keys work too', () => {
    const both = `schema.registry.url=https://urluser:urlpass@sr.example.com\nschema.registry.basic.auth.credentials.source=USER_INFO\nschema.registry.basic.auth.user.info=SRKEY:${SECRET}\n`;
    const config = loadConfig(propertiesFile(both));
    expect(config.schemaRegistry).toEqual({ url: 'https://sr.example.com', username: 'SRKEY', password: SECRET });
    expect(config.kafka.ignoredProperties).toEqual([]);
  });

  it('refuses settings that contradict each other or lack their credentials, naming the key and never the secret', () => {
    expect(problems({ KTO_SCHEMA_REGISTRY_USER_INFO: SECRET })).toEqual([
      'KTO_SCHEMA_REGISTRY_USER_INFO (basic.auth.user.info): must be <user>:<password>, e.g. an API key and its secret joined by a colon',
    ]);
    expect(problems(propertiesFile('basic.auth.credentials.source=USER_INFO\n'))[0]).toMatch(/^KTO_SCHEMA_REGISTRY_USER_INFO \(basic\.auth\.user\.info\): basic\.auth\.credentials\.source=USER_INFO needs/);
    expect(problems(propertiesFile('basic.auth.credentials.source=URL\n'))[0]).toMatch(/^KTO_SCHEMA_REGISTRY_URL \(schema\.registry\.url\): .*https:\/\/<user>:<password>@host/);
    expect(problems(propertiesFile('basic.auth.credentials.source=SASL_INHERIT\n'))[0]).toMatch(/SASL_INHERIT needs sasl\.username and sasl\.password/);
    expect(problems(propertiesFile('basic.auth.credentials.source=TOKEN\n'))[0]).toMatch(/^KTO_SCHEMA_REGISTRY_BASIC_AUTH_SOURCE \(basic\.auth\.credentials\.source\): must be USER_INFO/);
    expect(problems(propertiesFile('bearer.auth.credentials.source=OAUTHBEARER\n'))[0]).toMatch(/bearer\.auth\.credentials\.source\): must be STATIC_TOKEN/);
    expect(problems(propertiesFile('bearer.auth.credentials.source=STATIC_TOKEN\n'))[0]).toMatch(/STATIC_TOKEN needs bearer\.auth\.token/);
    expect(problems({ KTO_SCHEMA_REGISTRY_URL: `https://a:${SECRET}@sr.example.com`, KTO_SCHEMA_REGISTRY_USER_INFO: `b:${SECRET}` })[0]).toMatch(/the URL carries credentials too/);
    expect(problems({ KTO_SCHEMA_REGISTRY_USER_INFO: `b:${SECRET}`, KTO_SCHEMA_REGISTRY_BEARER_TOKEN: SECRET })[0]).toMatch(/not both/);
  });

  it('are environment variables kto knows', () => {
    for (const key of ['KTO_SCHEMA_REGISTRY_URL', 'KTO_SCHEMA_REGISTRY_USER_INFO', 'KTO_SCHEMA_REGISTRY_BEARER_TOKEN', 'KTO_SCHEMA_REGISTRY_BASIC_AUTH_SOURCE', 'KTO_SCHEMA_REGISTRY_BEARER_AUTH_SOURCE']) {
      expect(ENV_KEYS).toContain(key);
    }
  });

  it('redactConfig keeps the URL and user, masks the password and the token', () => {
    const basic = JSON.stringify(redactConfig(loadConfig(propertiesFile(SEED))));
    expect(basic).toContain('psrc-1.europe-west1.gcp.confluent.cloud');
    expect(basic).toContain('SRKEY');
    expect(basic).not.toContain(SECRET);
    expect(JSON.stringify(redactConfig(loadConfig({ KTO_SCHEMA_REGISTRY_BEARER_TOKEN: SECRET })))).not.toContain(SECRET);
  });
});
