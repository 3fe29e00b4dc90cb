import { rmSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/runtime/config';
import { testStack } from './test-stack';

/**
 * Stops the test stack. Jest tells a global teardown nothing about test results, so it always
 * keeps the logs (small, and what a failure needs) and drops the data (Kafka segments, SQLite);
 * the next run's setup removes the folder.
 */
export default async function globalTeardown(): Promise<void> {
  const dir = process.env.KTO_DEVSTACK_DIR;
  if (!dir) return; // The setup failed before the stack existed, and cleaned up after itself.
  const { devstack } = loadConfig();
  await testStack(dir, devstack.ports).down();
  rmSync(path.join(dir, 'data'), { recursive: true, force: true });
  process.stdout.write(`  [test stack] stopped; logs in ${path.join(dir, 'logs')}\n`);
}
