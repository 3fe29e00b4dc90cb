import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { cachePaths, installSchemaRegistry } from './install';
import { isPortOpen } from './ports';
import type { ServiceContext, ServiceSpec } from './service';
import { requireTool } from './tools';

/** Where Apicurio Registry serves the Confluent Schema Registry API. */
export const CCOMPAT_PATH = '/apis/ccompat/v7';

/** The Confluent-compatible base URL of a registry on this machine, as clients take it. */
export function localSchemaRegistryUrl(port: number): string {
  return `http://127.0.0.1:${port}${CCOMPAT_PATH}`;
}

/**
 * The JVM command line of Apicurio Registry. Storage is H2 in a file under the stack's data
 * folder, so registered schemas (and their ids) survive `kto dev down` + `up`, like Confluent's
 * `_schemas` topic; unlike Apicurio's KafkaSQL storage it needs no broker to be up first.
 * H2 writes a commit to the file up to 500 ms later by default, so a registry killed right after
 * a registration forgot the schema while a producer already held its id: WRITE_DELAY=0 writes
 * each commit before answering.
 */
export function schemaRegistryArgs(options: { jar: string; port: number; dbFile: string; tmpDir: string }): string[] {
  return [
    '-Xmx384m',
    '-XX:+ExitOnOutOfMemoryError',
    // A dev registry serves a handful of requests: a fast start beats peak throughput.
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    // Quarkus and Vert.x unpack caches into the temp dir; one per stack keeps parallel stacks apart.
    `-Djava.io.tmpdir=${options.tmpDir}`,
    '-Dquarkus.http.host=127.0.0.1',
    `-Dquarkus.http.port=${options.port}`,
    `-Dapicurio.datasource.url=jdbc:h2:file:${options.dbFile};WRITE_DELAY=0`,
    // The default pool opens 20 connections at start, which costs seconds for one local user.
    '-Dapicurio.datasource.jdbc.initial-size=1',
    '-Dapicurio.datasource.jdbc.min-size=1',
    // One access-log line per request would bury the log under readiness probes.
    '-Dquarkus.log.category."io.quarkus.http.access-log".level=WARN',
    '-jar',
    options.jar,
  ];
}

export function createSchemaRegistryService(ctx: ServiceContext): ServiceSpec {
  const jar = cachePaths(ctx.cacheDir).schemaRegistryJar;
  const dataDir = path.join(ctx.paths.data, 'schema-registry');
  const tmpDir = path.join(ctx.paths.run, 'schema-registry');
  const args = schemaRegistryArgs({ jar, port: ctx.ports.schemaRegistry, dbFile: path.join(dataDir, 'registry'), tmpDir });
  const subjectsUrl = `${localSchemaRegistryUrl(ctx.ports.schemaRegistry)}/subjects`;
  return {
    name: 'schema-registry',
    ports: ['schemaRegistry'],
    // The datasource argument names this stack's data folder.
    signature: [jar, args.find((a) => a.startsWith('-Dapicurio.datasource.url='))!],
    // A Quarkus start takes 15-60 s on a busy 2-core machine.
    readyTimeoutMs: 180_000,
    install: async (progress) => {
      await installSchemaRegistry(ctx.cacheDir, progress);
    },
    prepare: async () => {
      mkdirSync(dataDir, { recursive: true });
      mkdirSync(tmpDir, { recursive: true });
      return { command: requireTool('java'), args, cwd: path.dirname(jar) };
    },
    probe: async () => {
      if (!(await isPortOpen(ctx.ports.schemaRegistry))) return false;
      try {
        const res = await fetch(subjectsUrl, { signal: AbortSignal.timeout(2_000) });
        return res.status === 200;
      } catch {
        return false;
      }
    },
  };
}
