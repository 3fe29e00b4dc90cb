/** What a batched command's workflow is started with. */
export interface CommandBatch<Args extends unknown[] = unknown[]> {
  /** The canonical command name. */
  command: string;
  /** The Kafka key the batch was gathered by (`by: 'key'`; null for records without a key), else null. */
  key: string | null;
  /** In offset order: the arguments each command would have started its workflow with, and where it came from. */
  items: { args: Args; partition: number; offset: string; idempotencyKey?: string }[];
}
