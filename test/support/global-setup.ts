import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { findFreePorts, PORT_ENV_VARS, type DevStackPorts, type PortName } from '../../src/devstack';
import { bundleWorkflows } from '../../src/worker';
import { claimStackDir, reapAbandonedStacks, testStack } from './test-stack';

/**
 * Starts the stack the integration and e2e tests share, on free ports so it never collides with
 * a `kto dev up` on the default ones, and hands its endpoints to the test files through
 * process.env (jest workers inherit it; `testConfig()` then parses it like the CLI would).
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const [temporal, temporalUi, kafka, kafkaController, smtp, smtpControl, schemaRegistry] = await findFreePorts(7);
  const ports: DevStackPorts = { temporal, temporalUi, kafka, kafkaController, smtp, smtpControl, schemaRegistry };
  process.stdout.write('\n');
  await reapAbandonedStacks(ports);
  const dir = claimStackDir();
  const stack = testStack(dir, ports);
  try {
    const [endpoints, bundle] = await Promise.all([stack.up(), bundleWorkflows()]);
    const bundleFile = path.join(dir, 'workflow-bundle.js');
    writeFileSync(bundleFile, bundle.code);
    for (const [name, port] of Object.entries(ports) as [PortName, number][]) process.env[PORT_ENV_VARS[name]] = String(port);
    Object.assign(process.env, {
      KTO_DEVSTACK_DIR: dir,
      KTO_TEMPORAL_ADDRESS: endpoints.temporalAddress,
      KTO_TEMPORAL_NAMESPACE: 'default',
      KTO_KAFKA_BROKERS: endpoints.kafkaBrokers.join(','),
      KTO_SMTP_HOST: endpoints.smtpHost,
      KTO_SMTP_PORT: String(endpoints.smtpPort),
      KTO_SCHEMA_REGISTRY_URL: endpoints.schemaRegistryUrl,
      KTO_STAGING_DIR: path.join(dir, 'staging'),
      KTO_TEST_WORKFLOW_BUNDLE: bundleFile,
      KTO_TEST_SMTP_CONTROL_URL: endpoints.smtpControlUrl,
      KTO_TEST_TEMPORAL_UI_URL: endpoints.temporalUiUrl,
    });
  } catch (err) {
    // Jest skips the global teardown when the setup throws: stop what started here ourselves.
    await stack.down().catch(() => undefined);
    process.stdout.write(`  [test stack] failed; logs kept in ${path.join(dir, 'logs')}\n`);
    throw err;
  }
  process.stdout.write(`  [test stack] up in ${((Date.now() - started) / 1000).toFixed(1)}s, state in ${dir}\n`);
}
