/**
 * What kind of failure an error is, for the dispatcher's retries: a record too large for a
 * topic (the record's fault), a failure that waiting will not heal (the system needs a fix),
 * or anything else (an outage: retried quietly).
 */

/** gRPC status codes that a retry cannot fix: the request, the namespace, a search attribute or a permission is wrong. */
const PERMANENT_GRPC_CODES = new Set([3 /* INVALID_ARGUMENT */, 5 /* NOT_FOUND */, 7 /* PERMISSION_DENIED */, 9 /* FAILED_PRECONDITION */, 12 /* UNIMPLEMENTED */, 16 /* UNAUTHENTICATED */]);

/** The error and its causes, outermost first (kafkajs and Temporal wrap the error that says what happened). */
function* chain(err: unknown): Generator<Record<string, unknown>> {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 10; depth++) {
    yield e as Record<string, unknown>;
    e = (e as { cause?: unknown }).cause;
  }
}

/** The messages of the error and its causes, e.g. `Failed to start Workflow: 3 INVALID_ARGUMENT: Namespace … has no mapping defined for search attribute KtoCommand`. */
export function errorMessage(err: unknown): string {
  const messages: string[] = [];
  for (const e of chain(err)) if (typeof e.message === 'string' && !messages.includes(e.message)) messages.push(e.message);
  return messages.join(': ') || String(err);
}

/** The broker refused a produce because a record (or the request) is larger than the topic accepts (`max.message.bytes`). */
export function isRecordTooLarge(err: unknown): boolean {
  for (const e of chain(err)) if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE') return true;
  return false;
}

/**
 * True when waiting will not heal the failure: Temporal refusing the request (a missing namespace
 * or search attribute, no permission), Kafka answering with an error it calls non-retriable, the
 * schema registry refusing the credentials. Connection failures and timeouts are not.
 */
export function needsFix(err: unknown): boolean {
  for (const e of chain(err)) {
    if (e.name === 'KafkaJSProtocolError') return e.retriable === false;
    if (typeof e.status === 'number') return e.status === 401 || e.status === 403;
    // A gRPC error from Temporal: a status code with metadata.
    if (typeof e.code === 'number' && 'metadata' in e) return PERMANENT_GRPC_CODES.has(e.code);
  }
  return false;
}
