import { projectCommandRegistry, type CommandDefinition } from '../commands/registry';
import type { KtoConfig } from '../runtime/config';
import { createKafkaIo } from '../kafka';
import type { Logger } from '../runtime/logger';
import { createMetricsServer } from '../runtime/metrics';
import { connectClient } from '../temporal/connection';
import { createCommandDecoder } from './decode';
import { createDispatcher, type DispatcherOptions } from './index';

export interface RunDispatcherOptions {
  config: KtoConfig;
  logger: Logger;
  /** Resolves when the dispatcher should stop; it then drains, commits and disconnects. */
  stopSignal: Promise<unknown>;
  /** Fault tests park here (see test/support/fault-dispatcher.ts). */
  afterStartHook?: DispatcherOptions['afterStartHook'];
  /** The project's own commands (kto.config.ts), beside kto's. @default none */
  commands?: CommandDefinition[];
  /** Where partitions without a committed offset start. @default 'retention' */
  from?: DispatcherOptions['from'];
}

/** Runs the command dispatcher with kto's and the project's commands until `stopSignal`, serving /metrics when KTO_METRICS_PORT is set. */
export async function runDispatcher({ config, logger, stopSignal, afterStartHook, commands = [], from }: RunDispatcherOptions): Promise<void> {
  const kafka = createKafkaIo(config.kafka, logger);
  const client = await connectClient(config.temporal);
  const registry = projectCommandRegistry({ taskQueue: config.temporal.taskQueue, operatorEmail: config.alertOperatorEmail, commands });
  const dispatcher = createDispatcher({
    config,
    logger,
    kafka,
    client,
    registry,
    decoder: createCommandDecoder({ schemaRegistry: config.schemaRegistry }),
    afterStartHook,
    from,
  });
  const metrics =
    config.metricsPort > 0
      ? createMetricsServer({ port: config.metricsPort, host: config.metricsHost, registry: dispatcher.metrics.registry, logger, healthy: dispatcher.healthy, problems: dispatcher.problems })
      : undefined;
  try {
    await metrics?.start();
    void stopSignal.then(() => dispatcher.stop());
    await dispatcher.run();
  } finally {
    await dispatcher.stop();
    await metrics?.close();
    await kafka.close();
    await client.connection.close();
  }
}
