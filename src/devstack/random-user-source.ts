import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mulberry32 } from '../demo/prng';
import type { SourceUser } from '../ingest/random-user';

/**
 * A local stand-in for https://randomuser.me/api/: deterministic users (seeded PRNG), plus
 * switches to make it fail, for tests and the demo (the network reaches no public API).
 *
 * - `GET /api/?results=N&seed=S&page=P` → `{ results: [...], info }`. With `seed`, the same
 *   seed and page always give the same users (like the real API); without it, each request
 *   is the next page of the server's own seed, so successive polls see new users.
 * - `POST /fail {count, status?}` → the next `count` API requests answer `status` (default 503).
 * - `POST /garbage {count, kind?}` → the next `count` API requests answer a body that is not
 *   JSON (`kind: "json"`, default) or a user without a name (`kind: "fields"`).
 * - `GET /stats` → `{ requests, ok, failed, garbage, unauthorized, users, pages }`.
 *
 * With `basicAuth`, API requests without those credentials answer 401 (the control endpoints
 * stay open).
 */

export interface RandomUserSourceOptions {
  /** @default 0 (a free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Seed of requests without `?seed=`. @default 'kto' */
  seed?: string;
  /** `user:password` the API requires as Basic authentication. @default none: the API is open */
  basicAuth?: string;
}

export interface RandomUserSourceStats {
  requests: number;
  ok: number;
  failed: number;
  garbage: number;
  /** API requests refused for want of the `basicAuth` credentials. */
  unauthorized: number;
  /** Users served in well-formed responses. */
  users: number;
  /** `{seed, page, results}` of every well-formed response, in order. */
  pages: { seed: string; page: number; results: number }[];
}

export interface RandomUserSource {
  /** The API URL, e.g. `http://127.0.0.1:8099/api/`. */
  url: string;
  /** Base URL for the control endpoints. */
  baseUrl: string;
  close(): Promise<void>;
}

const FIRST = ['Ada', 'Bruno', 'Chloé', 'Dmitri', 'Esra', 'Farid', 'Greta', 'Hugo', 'Ines', 'Jonas', 'Keiko', 'Luis', 'Maja', 'Nils'];
const LAST = ['Andersen', 'Bauer', 'Costa', 'Dubois', 'Eriksen', 'Fischer', 'García', 'Horvat', 'Ivanova', 'Jensen', 'Kowalski', 'Laine'];
const STREETS = ['Mill Lane', 'Rue de la Paix', 'Hauptstraße', 'Church Road', 'Calle Mayor', 'Station Road'];
const PLACES = [
  ['Leeds', 'West Yorkshire', 'United Kingdom'],
  ['Lyon', 'Rhône', 'France'],
  ['Graz', 'Steiermark', 'Austria'],
  ['Porto', 'Porto', 'Portugal'],
  ['Aarhus', 'Midtjylland', 'Denmark'],
] as const;

/** mulberry32 seeded from a string: the same sequence on every machine. */
const prng = (seed: string) => mulberry32(createHash('sha256').update(seed).digest().readUInt32LE(0));

/** The users of one page of a seed: what the server answers, so tests can recompute it. */
export function randomUserPage(seed: string, page: number, results: number): SourceUser[] {
  const next = prng(`${seed}:${page}`);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)];
  const iso = (fromYear: number, years: number) => new Date(Date.UTC(fromYear, 0, 1) + Math.floor(next() * years * 365 * 86_400_000)).toISOString();
  return Array.from({ length: results }, () => {
    const first = pick(FIRST);
    const last = pick(LAST);
    const [city, state, country] = pick(PLACES);
    const hex = Array.from({ length: 32 }, () => Math.floor(next() * 16).toString(16)).join('');
    const n = Math.floor(next() * 10_000);
    return {
      gender: next() < 0.5 ? 'female' : 'male',
      name: { first, last },
      location: { street: { number: 1 + Math.floor(next() * 999), name: pick(STREETS) }, city, state, country, postcode: 10_000 + Math.floor(next() * 89_999) },
      email: `${first}.${last}${n}@example.com`.toLowerCase(),
      login: { uuid: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`, username: `${last.toLowerCase()}${n}` },
      dob: { date: iso(1950, 50) },
      registered: { date: iso(2005, 18) },
      phone: `0${Math.floor(next() * 1e9).toString().padStart(9, '0')}`,
      picture: { medium: `https://randomuser.me/api/portraits/med/${next() < 0.5 ? 'women' : 'men'}/${Math.floor(next() * 100)}.jpg` },
    };
  });
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body ? (JSON.parse(body) as Record<string, unknown>) : {};
}

const send = (res: ServerResponse, status: number, body: string, type = 'application/json') => {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
};

/** Starts the source in this process; `port: 0` picks a free port. */
export async function startRandomUserSource(options: RandomUserSourceOptions = {}): Promise<RandomUserSource> {
  const { port = 0, host = '127.0.0.1', seed: serverSeed = 'kto', basicAuth } = options;
  const stats: RandomUserSourceStats = { requests: 0, ok: 0, failed: 0, garbage: 0, unauthorized: 0, users: 0, pages: [] };
  const expectedAuthorization = basicAuth === undefined ? undefined : `Basic ${Buffer.from(basicAuth).toString('base64')}`;
  let failing: { count: number; status: number } = { count: 0, status: 503 };
  let garbage: { count: number; kind: 'json' | 'fields' } = { count: 0, kind: 'json' };
  let nextPage = 1;

  const api = (req: IncomingMessage, url: URL, res: ServerResponse) => {
    stats.requests++;
    if (expectedAuthorization !== undefined && req.headers.authorization !== expectedAuthorization) {
      stats.unauthorized++;
      res.setHeader('www-authenticate', 'Basic realm="random-user source"');
      return send(res, 401, JSON.stringify({ error: 'Basic authentication required' }));
    }
    if (failing.count > 0) {
      failing.count--;
      stats.failed++;
      return send(res, failing.status, JSON.stringify({ error: 'failing on request (POST /fail)' }));
    }
    if (garbage.count > 0) {
      garbage.count--;
      stats.garbage++;
      if (garbage.kind === 'json') return send(res, 200, '<html>not json</html>', 'text/html');
      const [user] = randomUserPage(serverSeed, 0, 1);
      return send(res, 200, JSON.stringify({ results: [{ ...user, name: undefined }] }));
    }
    const results = Math.min(Math.max(Number(url.searchParams.get('results') ?? 1) || 1, 1), 5000);
    const seed = url.searchParams.get('seed') ?? serverSeed;
    const page = url.searchParams.has('page') ? Number(url.searchParams.get('page')) || 1 : url.searchParams.has('seed') ? 1 : nextPage++;
    stats.ok++;
    stats.users += results;
    stats.pages.push({ seed, page, results });
    send(res, 200, JSON.stringify({ results: randomUserPage(seed, page, results), info: { seed, results, page, version: '1.4' } }));
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://source');
    const route = `${req.method} ${url.pathname.replace(/\/$/, '')}`;
    const control = async () => {
      const body = await readJson(req);
      const count = Number(body.count ?? 1);
      if (route === 'POST /fail') failing = { count, status: Number(body.status ?? 503) };
      else garbage = { count, kind: body.kind === 'fields' ? 'fields' : 'json' };
      send(res, 200, JSON.stringify({ ok: true }));
    };
    if (route === 'GET /api') return api(req, url, res);
    if (route === 'GET /stats') return send(res, 200, JSON.stringify(stats));
    if (route === 'POST /fail' || route === 'POST /garbage') return void control().catch((err: unknown) => send(res, 400, JSON.stringify({ error: String(err) })));
    send(res, 404, JSON.stringify({ error: `no route ${route}; try GET /api/?results=5` }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  const baseUrl = `http://${host}:${address.port}`;
  return {
    url: `${baseUrl}/api/`,
    baseUrl,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** `node --require tsx/cjs src/devstack/random-user-source.ts [port]`: the README's demo source. */
if (require.main === module) {
  const port = Number(process.argv[2] ?? process.env.KTO_RANDOM_USER_PORT ?? 8099);
  startRandomUserSource({ port }).then(
    (source) => {
      process.stdout.write(`random-user source: ${source.url}?results=5 (control: POST ${source.baseUrl}/fail, /garbage; GET /stats)\n`);
      const stop = () => void source.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (err: unknown) => {
      process.stderr.write(`random-user source: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
