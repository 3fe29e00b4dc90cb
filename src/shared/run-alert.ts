/**
 * The contract between a failing batch run and the activity that sends its alert email. Pure
 * types and helpers: workflows import this file.
 */

/** A partition whose child failed, with what went wrong at the bottom of its failure. */
export interface FailedPartition {
  partition: number;
  message: string;
}

export interface RunAlertInput {
  pipeline: string;
  workflowId: string;
  runId: string;
  /** `failed`: the run's work threw; `timed-out`: the run reached its deadline first. */
  outcome: 'failed' | 'timed-out';
  /** The run's own error message. */
  error: string;
  /** Partitions whose child failed. */
  failedPartitions: FailedPartition[];
  /** Partitions still running when a run timed out. */
  unfinishedPartitions: number[];
  /** The pipeline's `onFailure.email`; absent means the worker's default recipients. */
  recipients?: string[];
}

export interface RunAlertResult {
  /** False when neither the pipeline nor the worker names a recipient. */
  sent: boolean;
  recipients: string[];
  /** This run counted: 1 for a first failure, 3 for the third failed run in a row. */
  failedInARow: number;
}

/** 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st. */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}
