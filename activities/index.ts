import { createAggregateActivities } from './aggregate';
import { createKafkaActivities, type KafkaActivityDeps } from './kafka';

export type ActivityDeps = KafkaActivityDeps;

/** Every kto activity, bound to real or fake dependencies (tests inject their own). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createKafkaActivities(deps),
    ...createAggregateActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
