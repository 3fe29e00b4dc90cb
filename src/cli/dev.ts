import type { Command } from 'commander';
import { createDevStack, followLogs, KAFKA_VERSION, readLogTail, SERVICE_NAMES, type DevStack, type ServiceName } from '../devstack';
import type { KtoConfig } from '../runtime/config';
import type { Logger } from '../runtime/logger';
import { action, cliContext } from './context';
import { UserError } from '../runtime/errors';
import { newTable } from './format';
import { registerMailCommand } from './dev-mail';

/** The local stack the configuration names (KTO_DEVSTACK_DIR, KTO_DEVSTACK_CACHE_DIR, KTO_DEV_*_PORT, KTO_DEV_KAFKA_VERSION, KTO_DEV_KAFKA_SASL). */
export function configuredStack(config: KtoConfig, logger: Logger, brokers?: number): DevStack {
  const { dir, cacheDir, ports, kafkaVersion, kafkaSasl } = config.devstack;
  return createDevStack({ dir, cacheDir, ports, kafkaVersion, brokers, kafkaSasl, logger: logger.child({ namespace: 'devstack' }) });
}

function stack(brokers?: number): DevStack {
  const { config, logger } = cliContext();
  return configuredStack(config, logger, brokers);
}

function parseService(name: string | undefined, services: ServiceName[]): ServiceName[] {
  if (name === undefined) return services;
  if ((services as string[]).includes(name)) return [name as ServiceName];
  throw new UserError(`Unknown service "${name}".`, `use one of: ${services.join(', ')}`);
}

function parseBrokers(text: string): number {
  const brokers = Number(text);
  if (brokers === 1 || brokers === 3) return brokers;
  throw new UserError(`--brokers must be 1 or 3, got "${text}".`, 'e.g. kto dev up --brokers 3');
}

async function up(opts: { brokers?: string }): Promise<void> {
  const started = Date.now();
  const s = stack(opts.brokers === undefined ? undefined : parseBrokers(opts.brokers));
  const e = await s.up();
  process.stdout.write(
    [
      `Local stack ready in ${((Date.now() - started) / 1000).toFixed(1)}s:`,
      `  Temporal     ${e.temporalAddress}  (UI ${e.temporalUiUrl})`,
      `  Kafka        ${e.kafkaBrokers.join(',')}  (Apache Kafka ${s.kafkaVersion}, ${e.kafkaBrokers.length === 1 ? 'one broker' : `${e.kafkaBrokers.length} brokers`})`,
      ...(e.kafkaSasl
        ? [
            `  Kafka TLS    ${e.kafkaSasl.brokers.join(',')}  (SASL_SSL, PLAIN and SCRAM-SHA-512; CA ${e.kafkaSasl.caFile})`,
            `               KTO_KAFKA_CONFIG_FILE=${e.kafkaSasl.configFiles['SCRAM-SHA-512']}  (or ${e.kafkaSasl.configFiles.PLAIN})`,
          ]
        : []),
      `  SMTP sink    ${e.smtpHost}:${e.smtpPort}  (messages: kto dev mail, control ${e.smtpControlUrl})`,
      `  Schemas      ${e.schemaRegistryUrl}  (Apicurio Registry, Confluent API)`,
      'Stop it with `kto dev down`; data stays until you delete the state folder.',
      '',
    ].join('\n'),
  );
}

async function status(): Promise<void> {
  const rows = await stack().status();
  const table = newTable(['service', 'pid', 'ports', 'state']);
  for (const r of rows) table.push([r.service, r.pid ?? '-', r.ports.map((p) => `${p.port} (${p.name})`).join('\n'), r.state]);
  process.stdout.write(`${table.toString()}\nstate: ${cliContext().config.devstack.dir}\n`);
  if (rows.some((r) => r.state === 'port in use')) {
    process.stdout.write('"port in use": another program (or a stack in another folder) holds the port; set KTO_DEV_*_PORT to move kto.\n');
  }
}

async function logs(service: string | undefined, opts: { follow?: boolean; lines: string }): Promise<void> {
  const s = stack();
  const services = parseService(service, s.serviceNames);
  const files = new Map(services.map((name) => [s.logPath(name), name]));
  const width = Math.max(...services.map((name) => name.length));
  const prefix = (file: string) => (services.length > 1 ? `${files.get(file)!.padEnd(width)} | ` : '');
  const lines = Number.parseInt(opts.lines, 10);
  if (!Number.isInteger(lines) || lines < 0) throw new UserError(`--lines must be a whole number, got "${opts.lines}".`, 'e.g. --lines 200');
  for (const file of files.keys()) {
    for (const line of readLogTail(file, lines)) process.stdout.write(`${prefix(file)}${line}\n`);
  }
  if (!opts.follow) return;
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  await followLogs([...files.keys()], (file, line) => process.stdout.write(`${prefix(file)}${line}\n`), abort.signal);
}

/** Adds `kto dev up | down | status | logs | mail`: the local Temporal + Kafka + SMTP stack. */
export function registerDevCommands(program: Command): Command {
  const dev = program
    .command('dev')
    .description('run the local stack: Temporal dev server, one Kafka node (three with up --brokers 3) and an SMTP sink (installed on first use)')
    .addHelpText('after', `\nPorts: KTO_DEV_TEMPORAL_PORT, KTO_DEV_TEMPORAL_UI_PORT, KTO_DEV_KAFKA_PORT, KTO_DEV_KAFKA_CONTROLLER_PORT,\n       KTO_DEV_SMTP_PORT, KTO_DEV_SMTP_CONTROL_PORT. State folder: KTO_DEVSTACK_DIR (default .devstack).\nKafka release: KTO_DEV_KAFKA_VERSION (3.9.x or 4.x, default ${KAFKA_VERSION}).\nKTO_DEV_KAFKA_SASL=1 adds a SASL_SSL listener (KTO_DEV_KAFKA_SASL_PORT, default 9192) with PLAIN and SCRAM-SHA-512 users.\n`);
  dev
    .command('up')
    .description('install what is missing, start every service and wait until each answers')
    .option('--brokers <n>', 'Kafka nodes: 1, or 3 (replication factor 3, min.insync.replicas 2); kept with the data (default: as the data was formatted, else 1)')
    .action(action(up));
  dev.command('down').description('stop every service (data is kept)').action(action(async () => stack().down()));
  dev.command('status').description('show each service: pid, ports, state').action(action(status));
  dev
    .command('logs')
    .description('print the log of one service, or of all')
    .argument('[service]', `${SERVICE_NAMES.join(' | ')} (kafka-2, kafka-3 with --brokers 3)`)
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('-n, --lines <n>', 'lines to print from the end of each log', '50')
    .action(action(logs));
  registerMailCommand(dev);
  return dev;
}
