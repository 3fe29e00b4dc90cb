/**
 * URL redaction, pure: workflows import it (their reports name the URL they polled) as well as
 * the CLI, the logger and the activities.
 */

/** A URL fit for logs and messages: no user or password, and no value of a query parameter that names a secret. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = 'redacted';
      u.password = '';
    }
    for (const key of [...u.searchParams.keys()]) if (/token|key|secret|password|sig|auth/i.test(key)) u.searchParams.set(key, 'redacted');
    return u.toString();
  } catch {
    return url;
  }
}

/** `user:password@` of a URL of any scheme (http, kafka, sasl_ssl, ...), wherever it sits in a text. */
const USERINFO = /\b([a-z][a-z0-9+._-]*:\/\/)(?!redacted@)[^\s/?#@"'\\]+@/gi;

/** An http(s) URL as written in a text, without the punctuation that ends a sentence. */
const HTTP_URL = /https?:\/\/[^\s"'<>`]*[^\s"'<>`.,;:!?)\]]/g;

/**
 * `text` (a message, a log line, a library's error) with credentials masked in every URL in it:
 * each http(s) URL that carries a secret passes through redactUrl (other URLs stay as written),
 * and `user:password@` of a URL of any other scheme becomes `redacted@`.
 */
export function redactUrlsIn(text: string): string {
  if (!text.includes('://')) return text;
  const http = text.replace(HTTP_URL, (url) => {
    const redacted = redactUrl(url);
    return URL.canParse(url) && redacted === new URL(url).toString() ? url : redacted;
  });
  return http.includes('@') ? http.replace(USERINFO, '$1redacted@') : http;
}
