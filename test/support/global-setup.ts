import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { endpointEnv, findFreeStackPorts, PORT_ENV_VARS, type PortName } from '../../src/devstack';
import { bundleWorkflows } from '../../src/worker';
import { claimStackDir, reapAbandonedStacks, testStack } from './test-stack';

/**
 * Starts the stack the integration and e2e tests share, on free ports so it never collides with
 * a `kto dev up` on the default ones, and hands its endpoints to the test files through
 * process.env (jest workers inherit it; `testConfig()` then parses it like the CLI would).
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const ports = await findFreeStackPorts();
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
      ...endpointEnv(dir, endpoints),
      KTO_SCHEMA_REGISTRY_URL: endpoints.schemaRegistryUrl,
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
