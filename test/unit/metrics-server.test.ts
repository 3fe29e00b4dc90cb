import os from 'node:os';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/runtime/logger';
import { createMetricsServer } from '../../src/runtime/metrics';

// /metrics and /healthz answer without authentication: by default only this machine may reach them.

/** An address of this machine that other machines reach it by (not loopback). */
const external = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i !== undefined && !i.internal && i.family === 'IPv4')?.address;

const logger = createLogger({ level: 'silent' });

async function reaches(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;
  } catch {
    return false;
  }
}

async function serve(host: string | undefined, body: (port: number) => Promise<void>): Promise<void> {
  const server = createMetricsServer({ port: 0, registry: new Registry(), logger, ...(host !== undefined && { host }) });
  const port = await server.start();
  try {
    await body(port);
  } finally {
    await server.close();
  }
}

describe('metrics server', () => {
  it('listens on loopback only by default', async () => {
    await serve(undefined, async (port) => {
      expect(await reaches(`http://127.0.0.1:${port}/healthz`)).toBe(true);
      if (external) expect(await reaches(`http://${external}:${port}/healthz`)).toBe(false);
    });
  });

  (external ? it : it.skip)('listens on every interface when given 0.0.0.0', async () => {
    await serve('0.0.0.0', async (port) => {
      expect(await reaches(`http://${external}:${port}/metrics`)).toBe(true);
    });
  });

  it('names the address and the setting when it cannot listen', async () => {
    // 192.0.2.0/24 is reserved for documentation: no machine has it unless the test network does.
    const host = external === '192.0.2.1' ? '198.51.100.1' : '192.0.2.1';
    const server = createMetricsServer({ port: 0, host, registry: new Registry(), logger });
    await expect(server.start()).rejects.toThrow(new RegExp(`${host.replace(/\./g, '\\.')}:0 .*KTO_METRICS_HOST`));
    await server.close();
  });
});
