import { rmSync } from 'node:fs';
import path from 'node:path';
import { waitFor } from './helpers';
import { abandonedRunDirs, claimRunDir, createDevStack, type DevStack, type DevStackPorts } from '../../src/devstack';

/**
 * The integration tests' own stack: a state folder per jest run under `.devstack/test/`, free
 * ports, and the download cache shared with `kto dev up`. One folder per run lets two jest runs
 * (two engineers, or a watch mode beside CI) share a machine without stopping each other's stack.
 */
export const ROOT = path.resolve(__dirname, '..', '..');
export const TEST_STACKS_DIR = path.join(ROOT, '.devstack', 'test');
export const SHARED_CACHE_DIR = path.join(ROOT, '.devstack', 'cache');

/**
 * `brokers`: Kafka nodes of a new stack, `kafkaSasl`: whether its Kafka adds the SASL_SSL listener;
 * an existing one keeps what its data was formatted for.
 */
export function testStack(dir: string, ports: DevStackPorts, brokers?: number, kafkaSasl?: boolean): DevStack {
  return createDevStack({
    dir,
    cacheDir: SHARED_CACHE_DIR,
    ports,
    brokers,
    kafkaSasl,
    // npm test runs the Kafka-heavy suites a second time with KTO_DEV_KAFKA_VERSION=4.x.
    kafkaVersion: process.env.KTO_DEV_KAFKA_VERSION,
    progress: (line) => void process.stdout.write(`  [test stack] ${line}\n`),
  });
}

/**
 * kill -9 of one service of the running test stack (the one the global setup started); returns
 * once it is 'stopped', not merely 'not running' (until the kernel has released the port it reads
 * 'port in use'), with the stack so the caller starts it again with `up()`.
 */
export async function killTestService(ports: DevStackPorts, service: 'kafka' | 'temporal'): Promise<DevStack> {
  const stack = testStack(process.env.KTO_DEVSTACK_DIR!, ports);
  const pid = (await stack.status()).find((s) => s.service === service)?.pid;
  if (pid === undefined) throw new Error(`the test stack's ${service} is not running`);
  process.kill(pid, 'SIGKILL');
  await waitFor(async () => (await stack.status()).find((s) => s.service === service)?.state === 'stopped', {
    timeoutMs: 30_000,
    description: `${service} to be down and its port free`,
  });
  return stack;
}

export function claimStackDir(): string {
  return claimRunDir(TEST_STACKS_DIR);
}

/** Stacks of runs that died without teardown (Ctrl-C, crash): stop their services, drop their folders. */
export async function reapAbandonedStacks(ports: DevStackPorts): Promise<void> {
  for (const dir of abandonedRunDirs(TEST_STACKS_DIR)) {
    // Ports only matter for starting; stopping finds processes by pid file and command line.
    await testStack(dir, ports).down();
    rmSync(dir, { recursive: true, force: true });
  }
}
