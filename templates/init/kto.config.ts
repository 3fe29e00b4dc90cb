import { defineBatchPipeline, defineCommand, defineConfig } from 'kafka-temporal-orchestrator';
import { z } from 'zod';
import { formatNotice } from './activities';
import { notifyLatency } from './workflows';

/**
 * The project's pipelines, commands, workflows and activities. `kto worker`, `kto dispatcher`
 * and every other kto command read this file from the working directory (KTO_CONFIG to point
 * elsewhere).
 */
export default defineConfig({
  pipelines: [
    // Reduce: p95 latency per service per hour, every hour.
    defineBatchPipeline({
      name: 'service-latency',
      topic: 'access-log',
      outputTopic: 'service-latency',
      groupId: 'service-latency',
      processor: './processors/service-latency.ts',
      schedule: { cron: '@hourly' },
    }),
    // Map: server errors only, keyed by path.
    defineBatchPipeline({
      name: 'server-errors-by-path',
      topic: 'access-log',
      outputTopic: 'server-errors-by-path',
      groupId: 'server-errors-by-path',
      errorTopic: 'access-log.rejected-by-server-errors',
      processor: './processors/server-errors.ts',
    }),
    // Runs once after each run of service-latency that wrote new output.
    defineBatchPipeline({
      name: 'slow-services',
      after: ['service-latency'],
      topic: 'service-latency',
      outputTopic: 'slow-services',
      groupId: 'slow-services',
      processor: './processors/slow-services.ts',
      processorOptions: { thresholdMs: 900 },
    }),
  ],
  commands: [
    defineCommand({
      name: 'app.notify_latency',
      workflow: notifyLatency,
      params: z.object({ pipeline: z.string(), rows: z.number().int().min(0) }).strict(),
    }),
  ],
  workflowsPath: './workflows.ts',
  activities: { formatNotice },
});
