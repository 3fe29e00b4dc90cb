import { createAggregateActivities, type AggregateActivityDeps } from './aggregate';
import { withFailures } from './failures';
import { createCompleteBatchActivities } from './complete-batch';
import { createEmailActivities, type EmailActivitiesOptions } from './email';
import { createIngestSourceActivities, type IngestSourceActivityDeps } from './ingest-source';
import { createKafkaActivities, type KafkaActivityDeps } from './kafka';
import { createLandRange } from './land-range';
import { createProjectActivities, type ProjectActivityDeps } from './project';
import { createRunAlertActivities, type RunAlertActivityDeps } from './run-alert';

export type ActivityDeps = KafkaActivityDeps &
  Pick<EmailActivitiesOptions, 'smtp' | 'logger'> &
  Pick<AggregateActivityDeps, 'processors' | 'schemaRegistry'> &
  Pick<IngestSourceActivityDeps, 'sources'> & { project: ProjectActivityDeps; alerts?: RunAlertActivityDeps };

/**
 * Every kto activity, bound to real or fake dependencies (tests inject their own), in two sets:
 * `shared` runs on the shared task queue (any worker), `local` only on the queue of the worker
 * whose staging files it reads (aggregate and produce of a consumed range, or both after the
 * commit in one activity for a partition of a group child). Their KtoErrors
 * become Temporal failures (failures.ts).
 */
export function createActivities(deps: ActivityDeps) {
  const { aggregate } = createAggregateActivities(deps);
  const { produce, ...kafka } = createKafkaActivities(deps);
  const email = createEmailActivities({ smtp: deps.smtp, logger: deps.logger });
  return {
    shared: withFailures({
      ...kafka,
      ...createCompleteBatchActivities(deps),
      ...email,
      ...createRunAlertActivities({ ...deps.alerts, email, logger: deps.logger }),
      ...ingestSourceActivities(deps),
      ...createProjectActivities(deps.project),
    }),
    local: withFailures({ aggregate, produce, commitAggregateProduce: createLandRange({ commit: kafka.commit, aggregate, produce }) }),
  };
}

/** `pollSource`, also under its former name `pollHttpSource` for ingest runs started before the rename. */
function ingestSourceActivities(deps: ActivityDeps) {
  const { pollSource } = createIngestSourceActivities({ kafka: deps.kafka, logger: deps.logger, sources: deps.sources });
  return { pollSource, pollHttpSource: pollSource };
}

type ActivitySets = ReturnType<typeof createActivities>;
/** The activities workflows schedule on the shared task queue. */
export type Activities = ActivitySets['shared'];
/** The activities workflows schedule on the task queue of one worker (`ConsumeResult.workerQueue`). */
export type WorkerLocalActivities = ActivitySets['local'];
