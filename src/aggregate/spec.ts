import { KtoError } from '../runtime/errors';
import { z } from 'zod';
import { compileTimestampFormat, TimestampFormatError } from './timestamp';

export const AGGREGATION_METRICS = ['count', 'sum', 'min', 'max', 'mean', 'count-distinct'] as const;
export type AggregationMetric = (typeof AGGREGATION_METRICS)[number];

/**
 * What the batch pipeline computes per partition. All defaults live here and reproduce the
 * Airflow DAG kto replaces: daily mean of `voltage` by `datetime` in `dd/MM/yyyy HH:mm:ss`.
 * Timestamps without a zone are read as UTC (see timestamp.ts).
 */
export const aggregationSpecSchema = z
  .strictObject({
    /** Record field holding the timestamp. @default 'datetime' */
    timestampField: z.string().min(1).default('datetime'),
    /**
     * Pattern of `yyyy MM dd HH mm ss SSS` and literal characters, or `iso`, `epoch-ms`, `epoch-s`.
     * @default 'dd/MM/yyyy HH:mm:ss'
     */
    timestampFormat: z
      .string()
      .min(1)
      .default('dd/MM/yyyy HH:mm:ss')
      .superRefine((format, ctx) => {
        try {
          compileTimestampFormat(format);
        } catch (err) {
          if (!(err instanceof TimestampFormatError)) throw err;
          ctx.addIssue({ code: 'custom', message: err.message });
        }
      }),
    /** Time bucket of each output row (UTC). @default 'day' */
    bucket: z.enum(['day', 'hour']).default('day'),
    /** Optional record field whose value becomes part of the group key beside the bucket. */
    groupBy: z.string().min(1).optional(),
    /** Numeric record field to aggregate (numbers or numeric strings). @default 'voltage' */
    valueField: z.string().min(1).default('voltage'),
    /**
     * Metrics to compute. count, sum, min, max and mean are always in the output because
     * partial results must stay mergeable; `count-distinct` adds `distinct` and needs `distinctField`.
     * @default ['count', 'sum', 'min', 'max', 'mean']
     */
    metrics: z
      .array(z.enum(AGGREGATION_METRICS))
      .min(1, `metrics must name at least one of ${AGGREGATION_METRICS.join(', ')}; omit it for the default`)
      .default(['count', 'sum', 'min', 'max', 'mean']),
    /** Record field whose distinct values `count-distinct` counts. */
    distinctField: z.string().min(1).optional(),
  })
  .superRefine((spec, ctx) => {
    if (spec.metrics.includes('count-distinct') && spec.distinctField === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['distinctField'],
        message:
          'distinctField is required when metrics include "count-distinct": set it to the record field ' +
          'whose distinct values to count, or remove "count-distinct" from metrics',
      });
    }
  });

/** A validated spec with every default filled in. */
export type AggregationSpec = z.output<typeof aggregationSpecSchema>;
/** What a user or a workflow may pass: every field optional except where a refine requires it. */
export type AggregationSpecInput = z.input<typeof aggregationSpecSchema>;

export class AggregationSpecError extends KtoError {
  constructor(readonly problems: string[]) {
    super(`Invalid aggregation spec:\n${problems.map((p) => `  - ${p}`).join('\n')}`, { type: 'InvalidAggregationSpec' });
    this.name = 'AggregationSpecError';
  }
}

/**
 * Validates a spec and fills its defaults.
 * @throws AggregationSpecError naming each bad field and how to fix it.
 */
export function parseAggregationSpec(input: unknown = {}): AggregationSpec {
  const result = aggregationSpecSchema.safeParse(input);
  if (result.success) return result.data;
  throw new AggregationSpecError(
    result.error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : '(spec)'}: ${issue.message}`),
  );
}
