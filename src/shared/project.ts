/**
 * The contract between workflow code that starts commands and the project activities. Pure
 * types: workflows import this file.
 */

export interface StartCommandRequest {
  command: string;
  params: unknown;
  idempotencyKey?: string;
  /** Workflow id and run id of the workflow starting it: the default command workflow id derives from it and `sequence`. */
  caller: string;
  /** The caller's how-manyth `startCommand` call (every call counts), so each gets an id of its own and a replay the same one. */
  sequence: number;
}

export interface CommandStart {
  workflowType: string;
  workflowId: string;
  taskQueue: string;
  args: unknown[];
  startOptions: Record<string, unknown>;
}
