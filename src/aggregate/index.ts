export {
  createAggregator,
  mergeRows,
  mergeResults,
  compareOffsets,
  type Aggregator,
  type AggregateRow,
  type AddResult,
  type RejectCode,
} from './aggregator';
export {
  aggregationSpecSchema,
  parseAggregationSpec,
  AggregationSpecError,
  AGGREGATION_METRICS,
  type AggregationSpec,
  type AggregationSpecInput,
  type AggregationMetric,
} from './spec';
export {
  compileTimestampFormat,
  bucketStart,
  formatBucket,
  TimestampFormatError,
  NAMED_TIMESTAMP_FORMATS,
  type TimestampParser,
  type TimestampResult,
  type Bucket,
} from './timestamp';
