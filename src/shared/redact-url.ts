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
