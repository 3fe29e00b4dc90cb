/**
 * The innermost message of an error chain: Temporal wraps what went wrong (an SMTP answer, a
 * Kafka error) in ActivityFailure, ChildWorkflowFailure and WorkflowFailedError. Pure, so
 * workflows can use it too.
 */
export function innermostMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
