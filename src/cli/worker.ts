import type { Command } from 'commander';
import { loadPipelines } from '../project/load';
import { runWorker } from '../worker';
import { onShutdownSignal } from '../runtime/signals';
import { action, cliContext } from './context';

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
