import { Context } from '@temporalio/activity';

/**
 * Runs a step while heartbeating every second with its latest progress. A live worker keeps
 * beating even while it waits on Kafka (a group join, a slow fetch); only a dead or frozen
 * process falls silent, which is exactly what the heartbeat timeout should detect.
 */
export async function withHeartbeat<T>(step: (progress: (details: unknown) => void) => Promise<T>, everyMs = 1_000): Promise<T> {
  const context = Context.current();
  let details: unknown;
  const timer = setInterval(() => context.heartbeat(details), everyMs);
  try {
    return await step((d) => {
      details = d;
    });
  } finally {
    clearInterval(timer);
  }
}
