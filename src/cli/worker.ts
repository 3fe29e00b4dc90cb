import type { Command } from 'commander';
import { loadPipelines } from '../project/load';
import { runWorker } from '../worker';
import { action, cliContext } from './context';

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
export function onShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals) => {
      process.once(signal, () => process.exit(130));
      resolve(signal);
    };
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
  });
}

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run a Temporal worker for every kto workflow and activity (scale out by starting more)')
    .action(
      action(async () => {
        const { config, logger } = cliContext();
        await runWorker({ config, logger, stopSignal: onShutdownSignal(), project: loadPipelines() });
      }),
    );
}
