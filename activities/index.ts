import { createAggregateActivities } from './aggregate';
import { createEmailActivities, type EmailActivitiesOptions } from './email';
import { createKafkaActivities, type KafkaActivityDeps } from './kafka';

export type ActivityDeps = KafkaActivityDeps & Pick<EmailActivitiesOptions, 'smtp' | 'logger'>;

/** Every kto activity, bound to real or fake dependencies (tests inject their own). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createKafkaActivities(deps),
    ...createAggregateActivities(deps),
    ...createEmailActivities({ smtp: deps.smtp, logger: deps.logger }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
