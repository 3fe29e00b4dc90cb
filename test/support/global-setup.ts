import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { endpointEnv, findFreeStackPorts, PORT_ENV_VARS, type PortName } from '../../src/devstack';
import { loadConfig } from '../../src/runtime/config';
import { bundleWorkflows } from '../../src/worker';
import { claimStackDir, reapAbandonedStacks, testStack } from './test-stack';

/**
 * Starts the stack the integration and e2e tests share, on free ports so it never collides with
 * a `kto dev up` on the default ones, and hands its endpoints to the test files through
 * process.env (jest workers inherit it; `testConfig()` then parses it like the CLI would).
 */
export default async function globalSetup(): Promise<void> {
  // With the SASL_SSL listener, which test/integration/sasl-ssl.test.ts connects to.
  await startSharedStack('integration', { kafkaSasl: true });
}

/**
 * The stack of one jest project (`brokers`: Kafka nodes). Jest runs the global setups of all
 * selected projects before any test, in one process, and the endpoints go through process.env:
 * two projects with a stack each cannot share a run, and a second one stops the first.
 */
export async function startSharedStack(project: string, options: { brokers?: number; kafkaSasl?: boolean } = {}): Promise<void> {
  const other = process.env.KTO_TEST_STACK_PROJECT;
  if (other) {
    await testStack(process.env.KTO_DEVSTACK_DIR!, loadConfig().devstack.ports).down();
    throw new Error(
      `The jest projects ${other} and ${project} each start a stack of their own and cannot run in one jest run. ` +
        `Run them one after the other, as npm test does: npx jest --selectProjects ${other}, then npx jest --selectProjects ${project}.`,
    );
  }
  const started = Date.now();
  const ports = await findFreeStackPorts({ kafkaBrokers: options.brokers });
  process.stdout.write('\n');
  await reapAbandonedStacks(ports);
  const dir = claimStackDir();
  const stack = testStack(dir, ports, options.brokers, options.kafkaSasl);
  try {
    const [endpoints, bundle] = await Promise.all([stack.up(), bundleWorkflows()]);
    const bundleFile = path.join(dir, 'workflow-bundle.js');
    writeFileSync(bundleFile, bundle.code);
    for (const [name, port] of Object.entries(ports) as [PortName, number][]) process.env[PORT_ENV_VARS[name]] = String(port);
    Object.assign(process.env, {
      ...endpointEnv(dir, endpoints),
      KTO_SCHEMA_REGISTRY_URL: endpoints.schemaRegistryUrl,
      KTO_TEST_WORKFLOW_BUNDLE: bundleFile,
      KTO_TEST_SMTP_CONTROL_URL: endpoints.smtpControlUrl,
      KTO_TEST_TEMPORAL_UI_URL: endpoints.temporalUiUrl,
      KTO_TEST_STACK_PROJECT: project,
      ...(endpoints.kafkaSasl && { KTO_TEST_KAFKA_SASL: JSON.stringify(endpoints.kafkaSasl) }),
    });
  } catch (err) {
    // Jest skips the global teardown when the setup throws: stop what started here ourselves.
    await stack.down().catch(() => undefined);
    process.stdout.write(`  [test stack] failed; logs kept in ${path.join(dir, 'logs')}\n`);
    throw err;
  }
  process.stdout.write(`  [test stack] up in ${((Date.now() - started) / 1000).toFixed(1)}s, state in ${dir}\n`);
}
