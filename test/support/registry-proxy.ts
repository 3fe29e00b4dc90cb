import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A registry that wants credentials, in front of the test stack's real one: the local stack's
 * Apicurio Registry only authenticates through an OIDC server, so this checks the Authorization
 * header itself (as Confluent Cloud does: 401 and a JSON error) and forwards accepted requests.
 */
export interface RegistryProxy {
  /** The proxy's base URL: the registry's, on the proxy's port. */
  url: string;
  /** Each request's Authorization header and the status the proxy answered. */
  requests: { authorization?: string; status: number }[];
  close(): Promise<void>;
}

export const basicAuthorization = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function bodyOf(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Forwards to `target` (a registry base URL) every request whose Authorization header is one of `accepted`. */
export async function startRegistryProxy(target: string, accepted: string[]): Promise<RegistryProxy> {
  const { origin, pathname } = new URL(target);
  const requests: RegistryProxy['requests'] = [];
  const server = createServer((req, res) => {
    const authorization = req.headers.authorization;
    if (!accepted.includes(authorization ?? '')) {
      requests.push({ authorization, status: 401 });
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="registry"' });
      res.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
      return;
    }
    void (async () => {
      const body = await bodyOf(req);
      const upstream = await fetch(`${origin}${req.url}`, {
        method: req.method,
        headers: { accept: req.headers.accept ?? '*/*', 'content-type': req.headers['content-type'] ?? 'application/json' },
        body: body.length > 0 ? body : undefined,
      });
      requests.push({ authorization, status: upstream.status });
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    })().catch((err: unknown) => {
      res.writeHead(502).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${pathname}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
