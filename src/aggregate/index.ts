export { createAggregator, mergeRows, mergeResults, type Aggregator, type AggregateRow } from './aggregator';
export { parseAggregationSpec, AggregationSpecError, type AggregationSpecInput } from './spec';
export { compileTimestampFormat, formatBucket } from './timestamp';
