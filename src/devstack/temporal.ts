import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { connectClient } from '../temporal/connection';
import { cachePaths, installTemporal } from './install';
import { findFreePorts, isPortOpen, kafkaNodes } from './ports';
import { SEARCH_ATTRIBUTES } from '../shared/search-attributes';
import type { ServiceContext, ServiceSpec } from './service';

export const TEMPORAL_NAMESPACE = 'default';

/** The dev server's arguments; every listener gets an explicit port so two stacks never collide. */
export function temporalArgs(options: { ports: Pick<ServiceContext['ports'], 'temporal' | 'temporalUi'>; dbFile: string; httpPort: number; metricsPort: number }): string[] {
  const { ports } = options;
  return [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(ports.temporal),
    '--ui-port',
    String(ports.temporalUi),
    '--http-port',
    String(options.httpPort),
    '--metrics-port',
    String(options.metricsPort),
    '--db-filename',
    options.dbFile,
    '--namespace',
    TEMPORAL_NAMESPACE,
    '--log-level',
    'warn',
    // Write-ahead log, synced at checkpoints: survives a killed server (only a power loss may drop the
    // last commits) and spares every workflow transition an fsync, which on a small machine costs
    // the server a third of its CPU and each activity a wait.
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    // The UI would otherwise ask the internet for release news on every page load.
    '--ui-disable-news-fetch',
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
  ];
}

export function createTemporalService(ctx: ServiceContext): ServiceSpec {
  const dbFile = path.join(ctx.paths.data, 'temporal.sqlite');
  const address = `127.0.0.1:${ctx.ports.temporal}`;
  return {
    name: 'temporal',
    ports: ['temporal', 'temporalUi'],
    signature: ['start-dev', dbFile],
    readyTimeoutMs: 60_000,
    install: async (progress) => {
      await installTemporal(ctx.cacheDir, progress);
    },
    prepare: async () => {
      mkdirSync(ctx.paths.data, { recursive: true });
      // HTTP API and metrics are not part of kto's config; free ports picked now keep them off
      // each other's toes when a test stack runs beside `kto dev up`.
      // The stack's own ports may be free still (their services start alongside): never take one.
      const taken = [...Object.values(ctx.ports), ...kafkaNodes(ctx.ports, ctx.kafkaBrokers).flatMap((n) => [n.port, n.controllerPort])];
      const [httpPort, metricsPort] = await findFreePorts(2, undefined, taken);
      return { command: cachePaths(ctx.cacheDir).temporal, args: temporalArgs({ ports: ctx.ports, dbFile, httpPort, metricsPort }) };
    },
    probe: async () => {
      // A cheap TCP check first: the gRPC client would otherwise spend its connect timeout on every poll.
      if (!(await isPortOpen(ctx.ports.temporal))) return false;
      const client = await connectClient({ address, namespace: TEMPORAL_NAMESPACE, taskQueue: 'kto' }).catch(() => undefined);
      if (!client) return false;
      try {
        await client.workflowService.getSystemInfo({});
        // The frontend answers before the namespace is loaded; workflows started then would fail.
        await client.workflowService.describeNamespace({ namespace: TEMPORAL_NAMESPACE });
        return true;
      } catch {
        return false;
      } finally {
        await client.connection.close();
      }
    },
  };
}
