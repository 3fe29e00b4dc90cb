import type { Command } from 'commander';
import { loadPipelines } from '../project/load';
import { runDispatcher } from '../dispatcher/run';
import { onShutdownSignal } from '../runtime/signals';
import { action, cliContext } from './context';

export function registerDispatcherCommand(program: Command): void {
  program
    .command('dispatcher')
    .description('turn command records on the commands topic (KTO_DISPATCHER_TOPIC) into workflow starts (scale out by starting more)')
    .action(
      action(async () => {
        const { config, logger } = cliContext();
        await runDispatcher({ config, logger, stopSignal: onShutdownSignal(), commands: loadPipelines().commands });
      }),
    );
}
