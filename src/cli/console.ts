import type { Command } from 'commander';
import { createConsoleServer } from '../console/server';
import { loadPipelines } from '../project/load';
import { UserError } from '../runtime/errors';
import { onShutdownSignal } from '../runtime/signals';
import { temporalUiUrl } from '../temporal/batch-run';
import { action, cliContext, withClient, withKafka } from './context';

function portOf(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UserError(`--port must be a whole number from 0 to 65535, got "${value}".`, 'e.g. --port 8090 (0 picks a free port)');
  return port;
}

async function serveConsole(flags: { port: string; host: string }): Promise<void> {
  const { config, logger } = cliContext();
  const port = portOf(flags.port);
  const project = loadPipelines();
  await withKafka((kafka) =>
    withClient(async (client) => {
      const server = createConsoleServer({
        port,
        host: flags.host,
        client,
        status: { config, admin: kafka.admin, project },
        uiUrl: (workflowId) => temporalUiUrl(config, workflowId),
        logger,
      });
      const bound = await server.start().catch((err: NodeJS.ErrnoException) => {
        throw new UserError(`cannot serve the console on ${flags.host}:${port} (${err.code ?? err.message}).`, 'free the port or choose another with --port, or an address of this machine with --host');
      });
      process.stdout.write(`kto console on http://${flags.host.includes(':') ? `[${flags.host}]` : flags.host}:${bound}/ (Ctrl-C stops it)\n`);
      await onShutdownSignal();
      await server.close();
    }),
  );
}

export function registerConsoleCommand(program: Command): void {
  program
    .command('console')
    .description('a web console: pipeline status and lag at /, a graph of each batch run at /runs/<workflowId> (the Temporal UI keeps the raw histories)')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8090')
    .option('--host <address>', 'address to listen on; the console has no login, so keep it on this machine unless a proxy guards it', '127.0.0.1')
    .action(action(serveConsole));
}
