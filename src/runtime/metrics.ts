import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { listen } from './listen';
import type { Logger } from './logger';

export interface MetricsServerOptions {
  /** Port for `/metrics` and `/healthz`; 0 asks the OS for a free one. */
  port: number;
  /** The metrics to expose; each process (and each test) owns its registry. */
  registry: Registry;
  logger: Logger;
  /** Answers `/healthz`: 200 when true, 503 otherwise. @default () => true */
  healthy?: () => boolean;
  /** Why it is unhealthy, one line each, printed in the 503 answer. @default () => [] */
  problems?: () => string[];
  /**
   * Address to listen on. `/metrics` and `/healthz` answer without authentication, so only this
   * machine reaches them unless a deployment opts in (`KTO_METRICS_HOST=0.0.0.0`).
   * @default '127.0.0.1'
   */
  host?: string;
}

/** A tiny HTTP server for Prometheus scrapes and liveness probes (worker and dispatcher). */
export function createMetricsServer(options: MetricsServerOptions) {
  const { registry, healthy = () => true, problems = () => [], host = '127.0.0.1' } = options;
  const log = options.logger.child({ namespace: 'metrics' });
  let server: Server | undefined;

  const handler: Parameters<typeof createServer>[1] = (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && url === '/metrics') {
      registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        })
        .catch((err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics failed: ${String(err)}\n`);
        });
    } else if (req.method === 'GET' && url === '/healthz') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok\n' : ['unhealthy', ...problems()].join('\n') + '\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /metrics or /healthz\n');
    }
  };

  return {
    /** Listens and resolves with the bound port. */
    async start(): Promise<number> {
      const s = createServer(handler);
      server = s;
      const port = await listen(s, options.port, host).catch((err: NodeJS.ErrnoException) => {
        throw new Error(
          `Cannot serve /metrics on ${host}:${options.port} (${err.code ?? err.message}). Fix: free the port or choose another with KTO_METRICS_PORT (0 turns metrics off), or an address of this machine with KTO_METRICS_HOST.`,
        );
      });
      log.info({ host, port }, 'serving /metrics and /healthz');
      return port;
    },
    async close(): Promise<void> {
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}
