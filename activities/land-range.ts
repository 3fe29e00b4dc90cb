import type { AggregateInput, AggregateResult, LandRangeResult, PartitionInput, PinnedRange, ProduceInput, ProduceResult, RecordMark } from '../src/shared/batch';

export interface LandRangeSteps {
  commit(input: PartitionInput & { range: PinnedRange }): Promise<{ durationMs: number }>;
  aggregate(input: AggregateInput): Promise<AggregateResult>;
  produce(input: ProduceInput): Promise<ProduceResult>;
}

/**
 * commit → aggregate → produce of a pinned range in one activity on the worker holding its
 * staging file: a partition of a group child (small by definition) costs two Temporal tasks
 * instead of four. Each part is the step of the same name, so a retry does what retries of the
 * separate steps do: the same pinned-range record, the same output, landed at most once.
 */
export function createLandRange(steps: LandRangeSteps) {
  return async function commitAggregateProduce(input: AggregateInput & { last?: RecordMark }): Promise<LandRangeResult> {
    const committed = await steps.commit(input);
    const aggregated = await steps.aggregate(input);
    const produced = await steps.produce({ ...input, outputFile: aggregated.outputFile, errorsFile: aggregated.errorsFile });
    return {
      status: produced.status,
      outputRecords: produced.outputRecords,
      malformed: aggregated.malformed,
      durationsMs: { commit: committed.durationMs, aggregate: aggregated.durationMs, produce: produced.durationMs },
    };
  };
}
