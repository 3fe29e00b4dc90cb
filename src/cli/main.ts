import { Command } from 'commander';
import { registerBatchCommands } from './batch';
import { registerBackfillCommands } from './batch-backfill';
import { registerCompleteBatchCommands } from './complete-batch';
import { registerConsoleCommand } from './console';
import { registerCommandCommands } from './command';
import { registerDemoCommand } from './demo';
import { registerDevCommands } from './dev';
import { registerDispatcherCommand } from './dispatcher';
import { registerDlqCommands } from './dlq';
import { registerIngestCommands } from './ingest';
import { registerProjectCommands } from './project';
import { registerRunsCommands } from './runs';
import { registerScheduleCommands } from './schedule';
import { registerStatusCommand } from './status';
import { registerTopicsCommands } from './topics';
import { registerWorkerCommand } from './worker';
import { reportFailure, setVerbose } from './context';

/** `kto --help` ends with one example per command group. */
const EXAMPLES = `
Examples:
  kto init my-pipelines                         a project of your own: pipelines, processors, a command, tests
  kto pipelines                                 every pipeline of kto.config.ts and kto.pipelines.yaml
  kto demo                                      stack up, sample data in, batch run, output shown
  kto dev up                                    start the local stack (Temporal + UI, Kafka, SMTP sink, schema registry)
  kto worker                                    run a worker for every kto workflow
  kto batch run voltage-daily                   run a batch now with live progress
  kto schedule apply                            create or update the schedules of kto.pipelines.yaml
  kto topics create out --like in               an output topic co-partitioned with its input
  kto dispatcher                                start workflows from the commands topic
  kto dlq replay --reason unknown-command --dry-run  what dead letters would pass now; drop --dry-run to replay
  kto topics tail kto.commands --follow        print committed records as they arrive, decoded
  kto command send send-email-alert --params '{"email":"ops@example.com"}'
  kto ingest run random-users                   poll the HTTP source for one window
  kto complete-batch publish b.jsonl --name sensors.voltage.v1 --event-id 20201201-eod
  kto runs list --pipeline voltage-daily        runs by search attribute; kto runs show <id> for the steps
  kto status voltage-daily --watch              lag per partition, last and next run, health; --json for scripts
  kto console                                   status and a graph per run at http://127.0.0.1:8090/
`;

const program = new Command('kto')
  .description('Kafka-driven data pipelines as durable Temporal workflows')
  .option('--verbose', 'on failure, print the stack trace; show the Kafka client library\'s log lines')
  .showHelpAfterError()
  .addHelpText('after', EXAMPLES)
  .hook('preAction', (root) => setVerbose(root.opts<{ verbose?: boolean }>().verbose === true));

registerProjectCommands(program);
registerDevCommands(program);
registerWorkerCommand(program);
registerBackfillCommands(registerBatchCommands(program));
registerCompleteBatchCommands(program);
registerScheduleCommands(program);
registerTopicsCommands(program);
registerDemoCommand(program);
registerDispatcherCommand(program);
registerDlqCommands(program);
registerIngestCommands(program);
registerCommandCommands(program);
registerRunsCommands(program);
registerStatusCommand(program);
registerConsoleCommand(program);

program.parseAsync(process.argv).catch(reportFailure);
