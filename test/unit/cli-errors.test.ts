import { closedPort } from '../support/helpers';
import { callErrorFromStatus } from '@grpc/grpc-js/build/src/call';
import { Metadata } from '@grpc/grpc-js';
import { ServiceError } from '@temporalio/client';
import { NamespaceNotFoundError } from '@temporalio/common';
import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSSASLAuthenticationError } from 'kafkajs';
import { avroCommandRecord } from '../../src/cli/command';
import { failureText } from '../../src/cli/errors';
import { checkBrokers } from '../../src/kafka/client';
import { TopicNotFoundError } from '../../src/kafka';
import { PipelinesFileError } from '../../src/project/pipelines-file';
import { loadConfig, type KtoConfig } from '../../src/runtime/config';
import { createLogger } from '../../src/runtime/logger';
import { connectClient } from '../../src/temporal/connection';
import { BatchAlreadyRunningError } from '../../src/temporal/batch-run';

/**
 * Each class of failure a person can act on prints `kto: <what failed>` and `fix: <what to do>`
 * and nothing else; --verbose adds the stack. The library errors are the real ones where that is
 * cheap (a closed port), and otherwise built the way kafkajs and grpc-js build them.
 */

const SECRET = 'hunter2-sasl-Zq8';
const STACK_LINE = /^\s+at /m;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );
}

/** The printed lines, and checks that hold for every known failure: two lines, no stack, no secret; --verbose adds the stack. */
function printed(err: unknown, config?: KtoConfig): string[] {
  const text = failureText(err, { config });
  expect(text).not.toMatch(STACK_LINE);
  expect(text).not.toContain(SECRET);
  const lines = text.trimEnd().split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/^kto: /);
  expect(lines[1]).toMatch(/^fix: /);
  const verbose = failureText(err, { config, verbose: true });
  expect(verbose.startsWith(text)).toBe(true);
  if (err instanceof Error && err.stack?.includes('\n    at ')) expect(verbose).toMatch(STACK_LINE);
  expect(verbose).not.toContain(SECRET);
  return lines;
}

describe('CLI failures', () => {
  let port: number;
  beforeAll(async () => {
    port = await closedPort();
  });

  it('Kafka unreachable: the brokers tried, how to fix, no kafkajs stack', async () => {
    const config = loadConfig({ KTO_KAFKA_BROKERS: `127.0.0.1:${port}` });
    const err = await rejection(checkBrokers(config.kafka, createLogger({ level: 'silent' }), { retry: { retries: 0 }, libraryLogLevel: 'nothing' }));
    const [message, fix] = printed(err, config);
    expect(message).toBe(`kto: cannot reach Kafka at 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(fix).toMatch(/kto dev up.*KTO_KAFKA_BROKERS/);
  });

  it('Kafka SASL authentication failed: the user and mechanism, never the password', () => {
    const config = loadConfig({
      KTO_KAFKA_BROKERS: 'b1:9093,b2:9093',
      KTO_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
      KTO_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KTO_KAFKA_SASL_USERNAME: 'svc-kto',
      KTO_KAFKA_SASL_PASSWORD: SECRET,
    });
    // As kafkajs' SCRAM authenticator throws it (its types leave out the constructors' arguments), and as its retrier wraps it;
    // a message that echoed the password must not reach the terminal either.
    const SaslError = KafkaJSSASLAuthenticationError as unknown as new (message: string) => Error;
    const Wrapped = KafkaJSNonRetriableError as unknown as new (e: Error, options: { cause: Error }) => Error;
    const sasl = new SaslError(`SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials (${SECRET})`);
    for (const err of [sasl, new Wrapped(sasl, { cause: sasl })]) {
      const [message, fix] = printed(err, config);
      expect(message).toMatch(/^kto: Kafka at b1:9093,b2:9093 refused the SASL credentials of user "svc-kto" \(SCRAM-SHA-512\): SASL SCRAM SHA512 authentication failed/);
      expect(message).toContain('[redacted]');
      expect(fix).toMatch(/KTO_KAFKA_SASL_PASSWORD/);
    }
  });

  it('Kafka TLS certificate not trusted, or not for the host: the brokers, what failed, the setting that fixes it', () => {
    const config = loadConfig({ KTO_KAFKA_BROKERS: 'b1:9094', KTO_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KTO_KAFKA_SASL_USERNAME: 'svc-kto', KTO_KAFKA_SASL_PASSWORD: SECRET });
    // As kafkajs' connection builds it from the TLS socket's error, and as its retrier gives up on it.
    const ConnectionError = KafkaJSConnectionError as unknown as new (message: string, options: { broker: string; code: string }) => Error;
    const Exhausted = KafkaJSNumberOfRetriesExceeded as unknown as new (e: Error, options: { retryCount: number; retryTime: number }) => Error;
    const untrusted = new ConnectionError('Connection error: self-signed certificate in certificate chain', { broker: 'b1:9094', code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    for (const err of [untrusted, new Exhausted(untrusted, { retryCount: 3, retryTime: 1000 })]) {
      const [message, fix] = printed(err, config);
      expect(message).toBe('kto: Kafka at b1:9094 presented a TLS certificate kto does not trust: self-signed certificate in certificate chain');
      expect(fix).toMatch(/^fix: set ssl\.ca\.location in KTO_KAFKA_CONFIG_FILE \(or KTO_KAFKA_SSL_CA_LOCATION\)/);
    }
    const otherHost = new ConnectionError("Connection error: Hostname/IP does not match certificate's altnames", { broker: 'b1:9094', code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    const [message, fix] = printed(otherHost, config);
    expect(message).toMatch(/^kto: the TLS certificate of Kafka at b1:9094 is not for that host/);
    expect(fix).toMatch(/bootstrap\.servers/);
  });

  it('Temporal unreachable: the address and namespace tried', async () => {
    const config = loadConfig({ KTO_TEMPORAL_ADDRESS: `127.0.0.1:${port}`, KTO_TEMPORAL_NAMESPACE: 'pipelines' });
    const started = Date.now();
    const err = await rejection(connectClient(config.temporal, { connectTimeout: 300 }));
    expect(Date.now() - started).toBeLessThan(5_000);
    const [message, fix] = printed(err, config);
    expect(message).toBe(`kto: cannot reach Temporal at 127.0.0.1:${port} (namespace "pipelines"): no connection within the connect timeout`);
    expect(fix).toMatch(/kto dev up.*KTO_TEMPORAL_ADDRESS/);
  });

  it('Temporal gone during a call (UNAVAILABLE), a namespace that does not exist, credentials refused, a port that is not gRPC', () => {
    const config = loadConfig({ KTO_TEMPORAL_ADDRESS: 'temporal.example:7233', KTO_TEMPORAL_NAMESPACE: 'pipelines', KTO_TEMPORAL_API_KEY: SECRET });
    const grpcError = (code: number, details: string) => callErrorFromStatus({ code, details, metadata: new Metadata() }, 'Error\n    at caller (x.ts:1:1)');
    const unavailable = new ServiceError('Failed to list workflows', { cause: grpcError(14, 'No connection established. Last error: connect ECONNREFUSED') });
    expect(printed(unavailable, config)[0]).toBe('kto: cannot reach Temporal at temporal.example:7233 (namespace "pipelines"): No connection established. Last error: connect ECONNREFUSED');

    const [missing, create] = printed(new NamespaceNotFoundError('pipelines'), config);
    expect(missing).toBe('kto: Temporal at temporal.example:7233 has no namespace "pipelines".');
    expect(create).toMatch(/temporal operator namespace create --namespace pipelines.*KTO_TEMPORAL_NAMESPACE/);

    const [refused, check] = printed(new ServiceError('Failed to list workflows', { cause: grpcError(16, `Request unauthorized: bad key ${SECRET}`) }), config);
    expect(refused).toBe('kto: Temporal at temporal.example:7233 (namespace "pipelines") refused kto\'s credentials: Request unauthorized: bad key [redacted]');
    expect(check).toMatch(/KTO_TEMPORAL_API_KEY/);

    const [http, grpcPort] = printed(new ServiceError('Failed to list workflows', { cause: grpcError(12, 'Received HTTP status code 404') }), config);
    expect(http).toBe('kto: the server at temporal.example:7233 is not a Temporal frontend: Received HTTP status code 404');
    expect(grpcPort).toMatch(/7233/);
  });

  it('schema registry unreachable: the URL tried, without the credentials it was given', async () => {
    const config = loadConfig({ KTO_SCHEMA_REGISTRY_URL: `http://svc:${SECRET}@127.0.0.1:${port}/apis/ccompat/v7` });
    const err = await rejection(avroCommandRecord(config, 'kto.commands', { command: 'noop', params: {} }));
    const [message, fix] = printed(err, config);
    expect(message).toMatch(new RegExp(`^kto: could not encode the command as Avro via the schema registry at http://127\\.0\\.0\\.1:${port}/apis/ccompat/v7 `));
    expect(fix).toMatch(/KTO_SCHEMA_REGISTRY_URL/);
  });

  it('a missing topic: the topic and the command that creates it', () => {
    expect(printed(new TopicNotFoundError('orders'))).toEqual([
      'kto: Kafka topic "orders" does not exist.',
      'fix: create it (e.g. `kto topics create orders --partitions N`) or correct the name.',
    ]);
  });

  it('invalid configuration: every bad setting, and where settings are changed', () => {
    let err: unknown;
    try {
      loadConfig({ KTO_KAFKA_BROKERS: 'no-port' });
    } catch (e) {
      err = e;
    }
    const text = failureText(err);
    expect(text).not.toMatch(STACK_LINE);
    expect(text).toMatch(/^kto: Invalid kto configuration:\n {2}- KTO_KAFKA_BROKERS \(bootstrap\.servers\): each broker must be host:port.*\nfix: change each setting named above.*\n$/);
  });

  it('an invalid pipelines file: each problem with its fix', () => {
    const text = failureText(new PipelinesFileError('/p/kto.pipelines.yaml', ['batch[0] (x).topic: topic is required. Fix: add it']));
    expect(text).toBe('kto: invalid project file /p/kto.pipelines.yaml:\n  - batch[0] (x).topic: topic is required. Fix: add it\nfix: each problem above names its fix; every field is described in docs/api.md\n');
  });

  it('a pipeline already running: the run in flight and what to do', () => {
    const [message, fix] = printed(new BatchAlreadyRunningError('voltage-daily', 'kto-batch-voltage-daily', 'http://127.0.0.1:8233/x'));
    expect(message).toMatch(/^kto: pipeline "voltage-daily" already has a run in flight: workflow kto-batch-voltage-daily/);
    expect(fix).toBe('fix: wait for that run to finish (or cancel it in the Temporal UI), then run again');
  });

  it('an unexpected error: its message and a pointer to --verbose; the stack only with --verbose', () => {
    const err = new TypeError("Cannot read properties of undefined (reading 'x')");
    expect(failureText(err)).toBe("kto: unexpected error: TypeError: Cannot read properties of undefined (reading 'x')\nrun again with --verbose for the stack trace\n");
    const verbose = failureText(err, { verbose: true });
    expect(verbose).toMatch(/^kto: unexpected error: TypeError: Cannot read properties/);
    expect(verbose).toMatch(STACK_LINE);
  });
});
