import { loadConfig } from '../../src/runtime/config';
import { PORT_ENV_VARS, SERVICE_NAMES } from '../../src/devstack';
import { localSchemaRegistryUrl, schemaRegistryArgs } from '../../src/devstack/schema-registry';

describe('schema registry of the local stack', () => {
  const args = schemaRegistryArgs({ jar: '/c/registry-runner.jar', port: 18081, dbFile: '/s/data/schema-registry/registry', tmpDir: '/s/run/schema-registry' });

  it('binds the loopback on the chosen port and keeps schemas in a file under the stack', () => {
    expect(args).toEqual(
      expect.arrayContaining(['-Dquarkus.http.host=127.0.0.1', '-Dquarkus.http.port=18081', '-Dapicurio.datasource.url=jdbc:h2:file:/s/data/schema-registry/registry;WRITE_DELAY=0']),
    );
    expect(args.slice(-2)).toEqual(['-jar', '/c/registry-runner.jar']);
  });

  it('is a service of `kto dev` with a port variable of its own', () => {
    expect(SERVICE_NAMES).toContain('schema-registry');
    expect(PORT_ENV_VARS.schemaRegistry).toBe('KTO_DEV_SCHEMA_REGISTRY_PORT');
  });

  it("defaults KTO_SCHEMA_REGISTRY_URL to the local registry's Confluent API, following its port", () => {
    expect(loadConfig({}).schemaRegistry.url).toBe('http://127.0.0.1:8081/apis/ccompat/v7');
    expect(loadConfig({ KTO_DEV_SCHEMA_REGISTRY_PORT: '18081' }).schemaRegistry.url).toBe(localSchemaRegistryUrl(18081));
    expect(loadConfig({ KTO_SCHEMA_REGISTRY_URL: 'https://psrc-1.europe-west1.gcp.confluent.cloud' }).schemaRegistry.url).toBe(
      'https://psrc-1.europe-west1.gcp.confluent.cloud',
    );
  });

  it('refuses a registry URL that is not http(s), naming the variable', () => {
    expect(() => loadConfig({ KTO_SCHEMA_REGISTRY_URL: 'localhost:8081' })).toThrow(/KTO_SCHEMA_REGISTRY_URL \(schema\.registry\.url\): must be the http\(s\) base URL/);
  });
});
