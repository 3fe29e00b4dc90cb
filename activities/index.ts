import { createAggregateActivities, type AggregateActivityDeps } from './aggregate';
import { createCompleteBatchActivities } from './complete-batch';
import { createEmailActivities, type EmailActivitiesOptions } from './email';
import { createIngestSourceActivities, type IngestSourceActivityDeps } from './ingest-source';
import { createKafkaActivities, type KafkaActivityDeps } from './kafka';
import { createProjectActivities, type ProjectActivityDeps } from './project';

export type ActivityDeps = KafkaActivityDeps &
  Pick<EmailActivitiesOptions, 'smtp' | 'logger'> &
  Pick<AggregateActivityDeps, 'processors' | 'schemaRegistryUrl'> &
  Pick<IngestSourceActivityDeps, 'sources'> & { project: ProjectActivityDeps };

/** Every kto activity, bound to real or fake dependencies (tests inject their own). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createKafkaActivities(deps),
    ...createAggregateActivities(deps),
    ...createCompleteBatchActivities(deps),
    ...createEmailActivities({ smtp: deps.smtp, logger: deps.logger }),
    ...createIngestSourceActivities({ kafka: deps.kafka, logger: deps.logger, sources: deps.sources }),
    ...createProjectActivities(deps.project),
  };
}

export type Activities = ReturnType<typeof createActivities>;
