import { KtoError } from '../runtime/errors';
import { TopicNotFoundError, type KafkaIo, type OutboundRecord, type TopicSpec } from '../kafka';
import { batchStateKey, transactionalId, type BatchPipeline, type RecordMark, type ResumePoint } from '../shared/batch';

/**
 * kto's own record of each batch partition's progress, beside the group offset: a compacted
 * topic keyed by group, topic and partition (`batchStateKey`). The commit step writes `pinned`
 * before the output exists; the produce step writes `committed` in the output transaction;
 * `kto batch reset` writes `reset` together with the group offset it sets. Runs read it to
 * resume a group whose offsets expired and to notice a group moved behind kto's back.
 */
export const BATCH_STATE_TOPIC = 'kto.batch-state';

export type BatchState =
  | { status: 'pinned'; pipeline: string; from: string; to: string; at: string; workflowId?: string }
  | { status: 'committed'; pipeline: string; from: string; to: string; next: string; at: string; last?: RecordMark }
  | { status: 'reset'; pipeline: string; next: string; at: string };

/**
 * The state topic as kto creates it: compacted, with hourly segments so compaction (which skips
 * the active segment) keeps it near one record per partition and every run reads it quickly.
 */
export const batchStateTopicSpec = (stateTopic = BATCH_STATE_TOPIC): TopicSpec => ({
  topic: stateTopic,
  partitions: 1,
  config: { 'cleanup.policy': 'compact', 'segment.ms': String(60 * 60 * 1000) },
});

type Where = { groupId: string; topic: string; partition: number };

export function batchStateRecord(where: Where, state: BatchState, stateTopic = BATCH_STATE_TOPIC): OutboundRecord {
  return { topic: stateTopic, partition: 0, key: batchStateKey(where), value: JSON.stringify(state) };
}

/** The latest state of every key, as a read_committed reader sees it; empty when the topic does not exist yet. */
export async function readBatchStates(kafka: KafkaIo, stateTopic = BATCH_STATE_TOPIC): Promise<Map<string, BatchState>> {
  const records = await kafka.readTopic({ topic: stateTopic }).catch((err: unknown) => {
    if (err instanceof TopicNotFoundError) return [];
    throw err;
  });
  const states = new Map<string, BatchState>();
  for (const r of records) {
    if (r.key === null || r.value === null) continue;
    try {
      states.set(r.key, JSON.parse(r.value) as BatchState);
    } catch {
      // Not kto's: ignore it rather than wedge every run on one foreign record.
    }
  }
  return states;
}

/**
 * Offsets the group may hold given kto's last record: a pinned range is either not written yet or written.
 * Invariant 5 (docs/design.md): any other offset was moved outside kto and stops the run.
 */
export function offsetsAllowedBy(state: BatchState): bigint[] {
  return state.status === 'pinned' ? [BigInt(state.from), BigInt(state.to) + 1n] : [BigInt(state.next)];
}

/**
 * Where a partition goes on when its group offset is gone, by its state record: the pinned range
 * again, or the next offset with the last record before it (checked by the next read); null
 * without a record.
 */
export function resumePoint(states: Map<string, BatchState>, where: Where): ResumePoint | null {
  const state = states.get(batchStateKey(where));
  if (state === undefined) return null;
  if (state.status === 'pinned') return { offset: state.from };
  return { offset: state.next, ...(state.status === 'committed' && state.last && { last: state.last }) };
}

export type ResetTarget = 'earliest' | 'latest' | bigint;

export interface PartitionReset {
  partition: number;
  before: bigint | null;
  after: bigint;
}

/**
 * Moves a pipeline's group offset and kto's state record together, per partition, in one
 * transaction each (`kto batch reset`). The transaction uses the partition's range-commit
 * transactional id, so a produce step still in flight is fenced and cannot land afterwards.
 */
export async function resetBatchPartitions(kafka: KafkaIo, pipeline: BatchPipeline, target: ResetTarget, only?: number[], stateTopic = BATCH_STATE_TOPIC): Promise<PartitionReset[]> {
  const [watermarks, committed] = await Promise.all([kafka.admin.watermarks(pipeline.topic), kafka.admin.committedOffsets(pipeline.groupId, pipeline.topic)]);
  const marks = only === undefined ? watermarks : watermarks.filter((w) => only.includes(w.partition));
  const missing = (only ?? []).filter((p) => !watermarks.some((w) => w.partition === p));
  if (missing.length > 0) {
    throw new KtoError(`topic "${pipeline.topic}" has no partition ${missing.join(', ')} (it has ${watermarks.length}). Fix: name partitions 0..${watermarks.length - 1}.`, { type: 'UnknownPartition' });
  }
  for (const w of marks) {
    if (typeof target === 'bigint' && (target < w.low || target > w.high)) {
      throw new KtoError(
        `offset ${target} is outside partition ${w.partition} of "${pipeline.topic}" (it holds ${w.low}..${w.high - 1n}; ${w.high} means "after the last record"). Fix: choose an offset in ${w.low}..${w.high}, or --to earliest / latest.`,
        { type: 'OffsetOutsidePartition' },
      );
    }
  }
  await kafka.admin.ensureTopics([batchStateTopicSpec(stateTopic)]);
  const resets: PartitionReset[] = [];
  for (const w of marks) {
    const after = target === 'earliest' ? w.low : target === 'latest' ? w.high : target;
    const where = { groupId: pipeline.groupId, topic: pipeline.topic, partition: w.partition };
    await kafka.moveGroupOffset({
      transactionalId: transactionalId(where),
      ...where,
      offset: after,
      records: [batchStateRecord(where, { status: 'reset', pipeline: pipeline.pipeline, next: after.toString(), at: new Date().toISOString() }, stateTopic)],
    });
    resets.push({ partition: w.partition, before: committed.get(w.partition) ?? null, after });
  }
  return resets;
}
