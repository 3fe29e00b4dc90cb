import { createHash } from 'node:crypto';
import { z } from 'zod';
import { defineSource, MalformedResponseError, SourceRejectedError } from './define';
import { redactUrl } from '../runtime/config';
import { basicAuthFromEnv, ENV_NAME, hasUserinfo, userinfoRefusal } from './credentials';
import { DEFAULT_MAX_RESPONSE_BYTES, httpGet } from './http-get';

/**
 * The random-user format (https://randomuser.me/api/) and the record the seed's Airflow DAG
 * streamed from it (`format_data`), field for field; and kto's built-in source for it, defined
 * with `defineSource` as a project defines its own (this module's default export).
 */

const text = z.string();
const textOrNumber = z.union([z.string(), z.number()]);

const sourceUserSchema = z.object({
  gender: text,
  name: z.object({ first: text, last: text }),
  location: z.object({
    street: z.object({ number: textOrNumber, name: text }),
    city: text,
    state: text,
    country: text,
    postcode: textOrNumber,
  }),
  email: text,
  login: z.object({ uuid: text.optional(), username: text }),
  dob: z.object({ date: text }),
  registered: z.object({ date: text }),
  phone: text,
  picture: z.object({ medium: text }),
});
export type SourceUser = z.input<typeof sourceUserSchema>;

/** The shaped record, as the seed's `format_data` builds it. */
export interface ShapedUser {
  id: string;
  first_name: string;
  last_name: string;
  gender: string;
  address: string;
  post_code: string;
  email: string;
  username: string;
  dob: string;
  registered_date: string;
  phone: string;
  picture: string;
}

/** Namespace of kto's record ids (a fixed random UUID; changing it changes every id). */
const KTO_USER_NAMESPACE = '6f1c0d52-4b7e-4f0a-9a51-2f4c8e3d7b10';

/** RFC 4122 version-5 (SHA-1, name-based) UUID: the same name always gives the same id. */
export function uuidV5(name: string, namespace = KTO_USER_NAMESPACE): string {
  const hash = createHash('sha1').update(Buffer.from(namespace.replace(/-/g, ''), 'hex')).update(name, 'utf8').digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export type ShapeResult = { ok: true; record: ShapedUser } | { ok: false; reason: string };

/**
 * Shapes one source record like the seed's `format_data`, except the id: the seed drew a
 * random uuid4, so a retried poll wrote the same user under a new key. Here the id is derived
 * from the source's `login.uuid` (else from the record's content), so a re-produced record
 * keeps its key and a compacted topic or a consumer deduplicating by key sees it once.
 */
export function shapeRandomUser(raw: unknown): ShapeResult {
  const parsed = sourceUserSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, reason: `${issue.path.join('.') || '(record)'}: ${issue.message}` };
  }
  const u = parsed.data;
  const l = u.location;
  const shaped: Omit<ShapedUser, 'id'> = {
    first_name: u.name.first,
    last_name: u.name.last,
    gender: u.gender,
    address: `${String(l.street.number)} ${l.street.name}, ${l.city}, ${l.state}, ${l.country}`,
    post_code: String(l.postcode),
    email: u.email,
    username: u.login.username,
    dob: u.dob.date,
    registered_date: u.registered.date,
    phone: u.phone,
    picture: u.picture.medium,
  };
  const id = uuidV5(u.login.uuid ? `login.uuid:${u.login.uuid}` : `record:${JSON.stringify(shaped)}`);
  return { ok: true, record: { id, ...shaped } };
}

export type ParseResponseResult = { ok: true; results: unknown[] } | { ok: false; reason: string };

/** Reads the `results` list of a response body; anything else is a malformed response. */
export function parseRandomUserResponse(body: string): ParseResponseResult {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const results = (data as { results?: unknown } | null)?.results;
  if (!Array.isArray(results)) return { ok: false, reason: 'no "results" list in the response' };
  return { ok: true, results };
}

/** Answers worth asking again later: the server is busy or broken, not the request. */
const isTransient = (status: number) => status >= 500 || status === 408 || status === 429;

const randomUserOptionsSchema = z.object({
  url: z.url({ protocol: /^https?$/, error: 'url must be an http(s) URL such as "http://127.0.0.1:8099/api/?results=5"' }),
  /** Name of the worker's environment variable holding `user:password`, sent as Basic authentication. @default none */
  credentialsEnv: z.string({ error: 'credentialsEnv must be the name of an environment variable' }).regex(ENV_NAME, 'credentialsEnv must be the name of an environment variable, such as USERS_API_CREDENTIALS').optional(),
  /** Follow 3xx answers; off, a redirect fails the run naming where it points. @default false */
  followRedirects: z.boolean({ error: 'followRedirects must be true or false' }).default(false),
  /** The most bytes of one answer read; a longer one fails the run. @default 16 MiB */
  maxResponseBytes: z
    .number({ error: 'maxResponseBytes must be a number of bytes' })
    .int('maxResponseBytes must be a whole number of bytes')
    .min(1, 'maxResponseBytes must be at least 1')
    .default(DEFAULT_MAX_RESPONSE_BYTES),
});
/**
 * The options of the built-in random-user source (a pipeline's `sourceOptions`; the `url:` form
 * gives them). They travel in the workflow's input: credentials go in the worker's environment,
 * named by `credentialsEnv`, never in `url`.
 */
export type RandomUserSourceOptions = z.input<typeof randomUserOptionsSchema>;

/**
 * The built-in source of the seed's random-user DAG: GETs `options.url` once a poll, reads the
 * `results` list, shapes each user like `format_data` and keys it by its id. 5xx, 408, 429 and
 * network errors fail the poll (retried with backoff); a 4xx, a redirect (unless
 * `followRedirects`) and an answer over `maxResponseBytes` fail the run; a body that is not JSON
 * or has no `results` list is a malformed response; a user missing a field is skipped.
 * `credentialsEnv` names the worker's variable whose `user:password` goes out as Basic
 * authentication; a url with `user:password@` in it fails the run (it has been stored in
 * Temporal by then, so the message says how to keep it out).
 */
export const randomUserSource = defineSource<unknown, ShapedUser>({
  async fetch({ options, signal }) {
    const parsed = randomUserOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new SourceRejectedError(
        `the random-user source needs sourceOptions { url, credentialsEnv?, followRedirects?, maxResponseBytes? }: ${parsed.error.issues[0].message}. Fix: correct sourceOptions (or use the pipeline's url field)`,
      );
    }
    const { url, credentialsEnv, followRedirects, maxResponseBytes } = parsed.data;
    if (hasUserinfo(url)) {
      const { message, fix } = userinfoRefusal(url, 'credentialsEnv');
      throw new SourceRejectedError(`${message}. Fix: ${fix}`);
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    if (credentialsEnv !== undefined) headers.authorization = basicAuthFromEnv(credentialsEnv);
    const res = await httpGet(url, { signal, headers, followRedirects, maxResponseBytes });
    const { body } = res;
    if (isTransient(res.status)) throw new Error(`${redactUrl(url)} answered HTTP ${res.status}`);
    if (res.status >= 400) {
      throw new SourceRejectedError(`${redactUrl(url)} answered HTTP ${res.status}: the request itself is wrong, so asking again will not help. Fix: correct the pipeline's url`);
    }
    const response = parseRandomUserResponse(body);
    if (!response.ok) throw new MalformedResponseError(`${response.reason} (body: ${JSON.stringify(body.slice(0, 200))})`);
    return response.results;
  },
  shape(raw) {
    const shaped = shapeRandomUser(raw);
    if (!shaped.ok) throw new Error(shaped.reason);
    return shaped.record;
  },
  key: (user) => user.id,
});

export default randomUserSource;

/** Module path of the built-in random-user source, for an ingest pipeline's `source` (with `sourceOptions: { url }`). */
export const RANDOM_USER_SOURCE: string = __filename;
