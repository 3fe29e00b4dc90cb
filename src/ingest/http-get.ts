import { redactUrl } from '../runtime/config';
import { SourceRejectedError } from './define';

/** The most of an answer a poll reads unless the pipeline allows more. */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface HttpGetOptions {
  /** Aborts the request (the poll's timeout, a cancelled run). */
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /**
   * Follow 3xx answers to wherever they point. Off, a redirect fails the run: an endpoint that
   * moves should be re-configured, not chased to another host with the pipeline's credentials.
   * @default false
   */
  followRedirects?: boolean;
  /** Bytes of body read at most; a longer answer fails the run instead of filling the worker's memory. @default 16 MiB */
  maxResponseBytes?: number;
}

export interface HttpGetResult {
  status: number;
  body: string;
}

const MIB = 1024 * 1024;
const describeBytes = (bytes: number) => (bytes % MIB === 0 ? `${bytes / MIB} MiB (${bytes} bytes)` : `${bytes} bytes`);

/** undici hides the reason ("connect ECONNREFUSED 127.0.0.1:1") in `cause`; neither names the URL. */
function reasonOf(err: unknown): string {
  // Duck-typed: errors from another realm (a vm context, a test environment) fail instanceof.
  const messageOf = (e: unknown) => (typeof (e as { message?: unknown } | null)?.message === 'string' ? (e as { message: string }).message : undefined);
  return messageOf((err as { cause?: unknown } | null)?.cause) ?? messageOf(err) ?? String(err);
}

/**
 * GETs `url` the way an ingest source reads an endpoint it does not control. User and password
 * written into the URL go out as Basic authentication and appear in no message (every error
 * names the URL redacted). A redirect is refused (a non-retryable SourceRejectedError naming the
 * status and where it points) unless `followRedirects`; a body longer than `maxResponseBytes`
 * stops the read and fails the same way. Network errors and timeouts throw a plain (retryable)
 * error.
 */
export async function httpGet(url: string, options: HttpGetOptions = {}): Promise<HttpGetResult> {
  const { signal, followRedirects = false, maxResponseBytes = DEFAULT_MAX_RESPONSE_BYTES } = options;
  const shown = redactUrl(url);
  const target = new URL(url);
  const headers = new Headers(options.headers);
  // fetch() refuses a URL with credentials, and its error would print them.
  if (target.username || target.password) {
    const credentials = `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`;
    headers.set('authorization', `Basic ${Buffer.from(credentials).toString('base64')}`);
    target.username = '';
    target.password = '';
  }
  let res: Response;
  try {
    res = await fetch(target, { signal, headers, redirect: followRedirects ? 'follow' : 'manual' });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new Error(`GET ${shown} failed: ${reasonOf(err)}`);
  }
  if (!followRedirects && REDIRECTS.has(res.status)) {
    await res.body?.cancel();
    const location = res.headers.get('location');
    const to = location === null ? 'without a Location' : `to ${redactUrl(new URL(location, target).toString())}`;
    throw new SourceRejectedError(
      `GET ${shown} answered HTTP ${res.status}, a redirect ${to}, and redirects are not followed. Fix: set the pipeline's url to the new address, or allow redirects with followRedirects: true`,
    );
  }
  return { status: res.status, body: await readBody(res, maxResponseBytes, shown, signal) };
}

async function readBody(res: Response, max: number, shown: string, signal: AbortSignal | undefined): Promise<string> {
  const tooLarge = (what: string) =>
    new SourceRejectedError(
      `GET ${shown} answered ${what}, more than the ${describeBytes(max)} a poll reads. Fix: ask the endpoint for fewer records per poll, or raise the pipeline's maxResponseBytes`,
    );
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel();
    throw tooLarge(`${declared} bytes`);
  }
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel();
        throw tooLarge(`over ${total} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof SourceRejectedError || signal?.aborted) throw err;
    throw new Error(`GET ${shown}: the answer broke off after ${total} bytes: ${reasonOf(err)}`);
  }
  // As res.text() decodes: UTF-8, a byte-order mark dropped.
  return new TextDecoder().decode(Buffer.concat(chunks));
}
