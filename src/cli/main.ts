import { Command } from 'commander';
import { registerBatchCommands } from './batch';
import { registerBatchEventsCommands } from './batch-events';
import { registerCommandCommands } from './command';
import { registerDemoCommand } from './demo';
import { registerDevCommands } from './dev';
import { registerDispatcherCommand } from './dispatcher';
import { registerIngestCommands } from './ingest';
import { registerRunsCommands } from './runs';
import { registerScheduleCommands } from './schedule';
import { registerTopicsCommands } from './topics';
import { registerWorkerCommand } from './worker';

const program = new Command('kto')
  .description('Kafka-driven data pipelines as durable Temporal workflows')
  .showHelpAfterError()
  .addHelpText('after', '\nExamples:\n  kto dev up            start the local stack (Temporal, Kafka, SMTP sink)\n  kto worker            run a worker for every kto workflow\n');

registerDevCommands(program);
registerWorkerCommand(program);
registerBatchCommands(program);
registerBatchEventsCommands(program);
registerScheduleCommands(program);
registerTopicsCommands(program);
registerDemoCommand(program);
registerDispatcherCommand(program);
registerIngestCommands(program);
registerCommandCommands(program);
registerRunsCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`kto: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
