import { Option, type Command } from 'commander';
import { loadPipelines } from '../project/load';
import type { DispatcherStart } from '../dispatcher';
import { runDispatcher } from '../dispatcher/run';
import { onShutdownSignal } from '../runtime/signals';
import { action, cliContext } from './context';

const STARTS: DispatcherStart[] = ['retention', 'earliest'];

export function registerDispatcherCommand(program: Command): void {
  program
    .command('dispatcher')
    .description('turn command records on the commands topic (KTO_DISPATCHER_TOPIC) into workflow starts (scale out by starting more)')
    .addOption(
      new Option(
        '--from <start>',
        'where a partition without a committed offset (a new group, or offsets the broker expired) starts: retention = its first command younger than the Temporal namespace retention, earliest = its first record (older commands may run again)',
      )
        .choices(STARTS)
        .default('retention'),
    )
    .action(
      action(async (flags: { from: DispatcherStart }) => {
        const { config, logger } = cliContext();
        await runDispatcher({ config, logger, stopSignal: onShutdownSignal(), commands: loadPipelines().commands, from: flags.from });
      }),
    );
}
