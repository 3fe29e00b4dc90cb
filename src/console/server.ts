import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { listen } from '../runtime/listen';
import type { Logger } from '../runtime/logger';
import { collectStatus, type StatusDeps } from '../status/collect';
import { listRuns, showRun, type RunDetails } from '../temporal/runs';
import { buildRunGraph, layoutRunGraph } from './graph';
import { errorPage, runPage, statusPage } from './html';

export interface ConsoleServerOptions {
  /** Port to listen on; 0 asks the OS for a free one. */
  port: number;
  /**
   * Address to listen on. The console answers without authentication, so only this machine
   * reaches it unless the operator opts in (`--host 0.0.0.0`).
   * @default '127.0.0.1'
   */
  host?: string;
  client: Client;
  /** What the status page reads (`collectStatus`); its client is `client`. */
  status: Omit<StatusDeps, 'client'>;
  /** A workflow's page in the Temporal UI. */
  uiUrl: (workflowId: string) => string;
  logger: Logger;
  /** Batch runs listed on the status page. @default 20 */
  recentRuns?: number;
}

/** Child details read at once for a run page: a run of 1,024 partitions is read 16 at a time. */
const CHILD_READS = 16;

/** A run's details and its children's, by workflow id; a child that cannot be read is left out. */
export async function readRunTree(client: Client, workflowId: string): Promise<{ run: RunDetails; children: Map<string, RunDetails> }> {
  const run = await showRun(client, workflowId);
  const children = new Map<string, RunDetails>();
  const ids = run.children.map((c) => c.workflowId);
  for (let i = 0; i < ids.length; i += CHILD_READS) {
    const read = await Promise.all(ids.slice(i, i + CHILD_READS).map((id) => showRun(client, id).catch(() => null)));
    for (const details of read) if (details) children.set(details.workflowId, details);
  }
  return { run, children };
}

/** `kto console`: the status page at `/` and a graph per run at `/runs/<workflowId>`, read on each request. */
export function createConsoleServer(options: ConsoleServerOptions) {
  const { client, uiUrl, host = '127.0.0.1', recentRuns = 20 } = options;
  const log = options.logger.child({ namespace: 'console' });
  let server: Server | undefined;

  async function respond(req: IncomingMessage): Promise<{ status: number; html: string }> {
    const url = new URL(req.url ?? '/', 'http://console');
    if (req.method !== 'GET') return { status: 405, html: errorPage(405, `${req.method ?? '?'} is not served here.`, 'open the page with GET') };
    if (url.pathname === '/') {
      const [report, runs] = await Promise.all([collectStatus({ ...options.status, client }), listRuns(client, { type: 'batch' }, recentRuns)]);
      return { status: 200, html: statusPage(report, runs, uiUrl) };
    }
    const match = /^\/runs\/([^/]+)$/.exec(url.pathname);
    if (match) {
      const workflowId = decodeURIComponent(match[1]);
      try {
        const { run, children } = await readRunTree(client, workflowId);
        return { status: 200, html: runPage(run, layoutRunGraph(buildRunGraph(run, children)), uiUrl) };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { status: 404, html: errorPage(404, `No run with workflow id "${workflowId}".`, 'pick a run on the status page, or find its id with `kto runs list`') };
        throw err;
      }
    }
    return { status: 404, html: errorPage(404, `Nothing at ${url.pathname}.`, 'the console serves / (status) and /runs/<workflowId>') };
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    respond(req)
      .then(({ status, html }) => {
        res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(html);
      })
      .catch((err: unknown) => {
        log.warn({ err, url: req.url }, 'console page failed');
        res.writeHead(500, { 'content-type': 'text/html; charset=utf-8' });
        res.end(errorPage(500, `Reading the page failed: ${err instanceof Error ? err.message : String(err)}`, 'check that Temporal and Kafka answer (`kto status`), then reload'));
      });
  };

  return {
    /** Listens and resolves with the bound port. */
    async start(): Promise<number> {
      const s = createServer(handler);
      server = s;
      const port = await listen(s, options.port, host);
      log.info({ host, port }, 'serving the console');
      return port;
    },
    async close(): Promise<void> {
      const s = server;
      server = undefined;
      if (!s) return;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      // A browser keeps its connections open between pages; the console stops without waiting for it to drop them.
      s.closeAllConnections();
      await closed;
    },
  };
}
