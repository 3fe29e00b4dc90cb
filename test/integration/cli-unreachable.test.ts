import { closedPort } from '../support/helpers';
import { runKto } from '../support/run-cli';

/**
 * The built CLI against a Kafka and a Temporal that are not there (a local port nothing listens
 * on): within seconds, exit code 1 and exactly two lines on stderr, what failed with the address
 * tried and the fix; no stack, no kafkajs log lines. --verbose shows both.
 */

/** Generous for a loaded machine; without the CLI's own timeouts these took 20-25 s (Kafka) and 10 s (Temporal). */
const WITHIN_MS = 9_000;

async function timed(args: string[], env: Record<string, string>) {
  const started = Date.now();
  const result = await runKto(args, env, 60_000);
  return { ...result, ms: Date.now() - started };
}

describe('the CLI with Kafka or Temporal unreachable', () => {
  let port: number;
  beforeAll(async () => {
    port = await closedPort();
  });

  test('kto topics list: the brokers tried and the fix, in seconds', async () => {
    const result = await timed(['topics', 'list'], { KTO_KAFKA_BROKERS: `127.0.0.1:${port}` });
    expect(result.stderr).toBe(
      `kto: cannot reach Kafka at 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n` +
        'fix: start the local stack (kto dev up), or set KTO_KAFKA_BROKERS (bootstrap.servers in KTO_KAFKA_CONFIG_FILE) to brokers this machine can reach\n',
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.ms).toBeLessThan(WITHIN_MS);
  });

  test('kto runs list: the address and namespace tried and the fix, in seconds', async () => {
    const result = await timed(['runs', 'list'], { KTO_TEMPORAL_ADDRESS: `127.0.0.1:${port}`, KTO_TEMPORAL_NAMESPACE: 'default' });
    expect(result.stderr).toBe(
      `kto: cannot reach Temporal at 127.0.0.1:${port} (namespace "default"): no connection within the connect timeout\n` +
        'fix: start the local stack (kto dev up), or set KTO_TEMPORAL_ADDRESS to a Temporal frontend this machine can reach\n',
    );
    expect(result.code).toBe(1);
    expect(result.ms).toBeLessThan(WITHIN_MS);
  });

  test('--verbose adds the stack and kafkajs log lines', async () => {
    const kafka = await timed(['topics', 'list', '--verbose'], { KTO_KAFKA_BROKERS: `127.0.0.1:${port}` });
    expect(kafka.code).toBe(1);
    expect(kafka.stderr).toContain(`kto: cannot reach Kafka at 127.0.0.1:${port}`);
    expect(kafka.stderr).toMatch(/\n\s+at /);
    expect(kafka.stderr).toMatch(/"logger":"kafkajs"/);

    const temporal = await timed(['--verbose', 'runs', 'list'], { KTO_TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
    expect(temporal.code).toBe(1);
    expect(temporal.stderr).toContain(`kto: cannot reach Temporal at 127.0.0.1:${port}`);
    expect(temporal.stderr).toMatch(/Failed to connect before the deadline\n\s+at /);
  });
});
