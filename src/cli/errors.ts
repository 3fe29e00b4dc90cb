import { ConfigError, REDACTED, redactUrlsIn, type KtoConfig } from '../runtime/config';
import { errorChain, isKtoError, UserError } from '../runtime/errors';

/**
 * The CLI's one error path: every failure of a command becomes the text a person reads. A
 * failure kto knows (a service it cannot reach, credentials refused, a missing topic, a bad
 * setting) is one line saying what failed, with the address tried, and a `fix:` line; anything
 * else is an "unexpected error". Stacks only with --verbose. Lower layers throw library errors
 * as they are: they are recognised here by name and shape, so nothing below the CLI changes.
 */

/** What a person reads about a failure: what happened (with the address tried) and what to do. */
export interface Explanation {
  message: string;
  fix?: string;
}

export interface FailureTextOptions {
  /** The configuration the command ran with, for the addresses it tried; absent when it did not load. */
  config?: KtoConfig;
  /** Adds the stack trace, causes included. @default false */
  verbose?: boolean;
}

/** The text printed for a failed command: `kto: <what failed>`, `fix: <what to do>`, the stack with `verbose`. */
export function failureText(err: unknown, options: FailureTextOptions = {}): string {
  const explained = explainFailure(err, options.config);
  let text: string;
  if (explained) {
    text = `kto: ${explained.message}\n${explained.fix ? `fix: ${explained.fix}\n` : ''}${options.verbose ? `${stackOf(err)}\n` : ''}`;
  } else if (options.verbose) {
    text = `kto: unexpected error: ${stackOf(err)}\n`;
  } else {
    text = `kto: unexpected error: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\nrun again with --verbose for the stack trace\n`;
  }
  return redact(text, options.config);
}

/** A failure kto knows how to explain, or undefined for an unexpected one. */
export function explainFailure(err: unknown, config?: KtoConfig): Explanation | undefined {
  if (err instanceof UserError) return err.fix ? { message: err.message, fix: err.fix } : splitFix(err.message);
  if (err instanceof ConfigError) return { message: err.message, fix: err.fix };
  return explainKafka(err, config) ?? explainTemporal(err, config) ?? (isKtoError(err) ? splitFix(err.message) : undefined);
}

const KAFKA_BROKERS_FIX = 'start the local stack (kto dev up), or set KTO_KAFKA_BROKERS (bootstrap.servers in KTO_KAFKA_CONFIG_FILE) to brokers this machine can reach';
const KAFKA_SASL_FIX =
  'check KTO_KAFKA_SASL_USERNAME, KTO_KAFKA_SASL_PASSWORD and KTO_KAFKA_SASL_MECHANISM (sasl.username, sasl.password and sasl.mechanisms in KTO_KAFKA_CONFIG_FILE)';
/** Node's codes for a certificate chain that does not lead to a trusted CA. */
const UNTRUSTED_CERT_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_UNTRUSTED',
]);
const KAFKA_CA_FIX =
  "set ssl.ca.location in KTO_KAFKA_CONFIG_FILE (or KTO_KAFKA_SSL_CA_LOCATION) to the PEM file of the CA that signed the brokers' certificates (the local stack's is run/kafka-sasl/ca.pem in its state folder)";
const TEMPORAL_ADDRESS_FIX = 'start the local stack (kto dev up), or set KTO_TEMPORAL_ADDRESS to a Temporal frontend this machine can reach';

/** kafkajs errors, known by name: kto never imports kafkajs outside src/kafka. */
function explainKafka(err: unknown, config?: KtoConfig): Explanation | undefined {
  const sasl = findCause(err, (e) => e.name === 'KafkaJSSASLAuthenticationError');
  if (sasl) {
    const kafka = config?.kafka;
    const who = kafka ? ` user "${kafka.saslUsername ?? ''}" (${kafka.saslMechanism})` : '';
    return { message: `Kafka at ${brokersOf(err, config)} refused the SASL credentials of${who || ' kto'}: ${sasl.message}`, fix: KAFKA_SASL_FIX };
  }
  const connection = findCause(err, (e) => e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSConnectionClosedError');
  const tlsCode = String((connection as { code?: unknown } | undefined)?.code ?? '');
  if (connection && UNTRUSTED_CERT_CODES.has(tlsCode)) {
    return { message: `Kafka at ${brokersOf(err, config)} presented a TLS certificate kto does not trust: ${connection.message.replace(/^Connection error: /, '')}`, fix: KAFKA_CA_FIX };
  }
  if (connection && tlsCode === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return {
      message: `the TLS certificate of Kafka at ${brokersOf(err, config)} is not for that host: ${connection.message.replace(/^Connection error: /, '')}`,
      fix: 'set bootstrap.servers in KTO_KAFKA_CONFIG_FILE (or KTO_KAFKA_BROKERS) to a host name the certificate lists',
    };
  }
  if (connection) {
    const tls = config && config.kafka.securityProtocol !== 'PLAINTEXT' ? ` (over ${config.kafka.securityProtocol}: check KTO_KAFKA_SECURITY_PROTOCOL matches the listener)` : '';
    return { message: `cannot reach Kafka at ${brokersOf(err, config)}: ${connection.message.replace(/^Connection error: /, '')}`, fix: `${KAFKA_BROKERS_FIX}${tls}` };
  }
  return undefined;
}

/** gRPC status codes (@grpc/grpc-js `status`) that mean the server was not reached, or refused kto. */
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_UNIMPLEMENTED = 12;
const GRPC_UNAVAILABLE = 14;
const GRPC_UNAUTHENTICATED = 16;

/** @temporalio/client and @grpc/grpc-js errors, known by name and status code. */
function explainTemporal(err: unknown, config?: KtoConfig): Explanation | undefined {
  const address = config ? `${config.temporal.address} (namespace "${config.temporal.namespace}")` : 'the configured address';
  const missing = findCause(err, (e) => e.name === 'NamespaceNotFoundError');
  if (missing) {
    const namespace = (missing as { namespace?: string }).namespace ?? config?.temporal.namespace;
    return {
      message: `Temporal at ${config?.temporal.address ?? 'the configured address'} has no namespace "${namespace}".`,
      fix: `create it (temporal operator namespace create --namespace ${namespace}), or set KTO_TEMPORAL_NAMESPACE to one that exists`,
    };
  }
  // grpc-js' waitForReady rejects with this plain Error when Connection.connect's connectTimeout runs out.
  const deadline = findCause(err, (e) => e.message === 'Failed to connect before the deadline');
  const status = findCause(err, (e) => typeof (e as { code?: unknown }).code === 'number' && 'metadata' in e) as (Error & { code: number; details?: string }) | undefined;
  const connecting = findCause(err, (e) => e.name === 'ServiceError' && e.message === 'Failed to connect to Temporal server');
  if (deadline || status?.code === GRPC_UNAVAILABLE || (connecting && status?.code === GRPC_DEADLINE_EXCEEDED)) {
    const reason = deadline ? 'no connection within the connect timeout' : (status?.details ?? status?.message);
    return { message: `cannot reach Temporal at ${address}: ${reason}`, fix: TEMPORAL_ADDRESS_FIX };
  }
  // An HTTP server answered (the Temporal UI's port, a proxy), not a gRPC one.
  if (status?.code === GRPC_UNIMPLEMENTED && /HTTP status code/.test(status.details ?? '')) {
    return {
      message: `the server at ${config?.temporal.address ?? 'the configured address'} is not a Temporal frontend: ${status.details}`,
      fix: "set KTO_TEMPORAL_ADDRESS to the frontend's gRPC address (port 7233 by default, not the UI's)",
    };
  }
  if (status?.code === GRPC_UNAUTHENTICATED || status?.code === GRPC_PERMISSION_DENIED) {
    return {
      message: `Temporal at ${address} refused kto's credentials: ${status.details ?? status.message}`,
      fix: 'check KTO_TEMPORAL_API_KEY, or KTO_TEMPORAL_TLS_CERT and KTO_TEMPORAL_TLS_KEY, and that they grant access to this namespace',
    };
  }
  return undefined;
}

/** The brokers tried: the configured list, or the one a kafkajs connection error names. */
function brokersOf(err: unknown, config?: KtoConfig): string {
  if (config) return config.kafka.brokers.join(',');
  const named = findCause(err, (e) => typeof (e as { broker?: unknown }).broker === 'string') as { broker?: string } | undefined;
  return named?.broker ?? 'the configured brokers';
}

/** A message that carries its own fix (`… Fix: …`, kto's KtoError style) as message and fix. */
function splitFix(message: string): Explanation {
  const at = message.indexOf(' Fix: ');
  if (at < 0) return { message };
  return { message: message.slice(0, at).trim(), fix: message.slice(at + ' Fix: '.length).trim() };
}

/** `err` and its causes, outermost first (kafkajs and the Temporal SDK both set `cause`). */
function causesOf(err: unknown): Error[] {
  return [...errorChain(err)].filter((e): e is Error => e instanceof Error);
}

function findCause(err: unknown, match: (e: Error) => boolean): Error | undefined {
  return causesOf(err).find(match);
}

/** The stack of `err` and of each cause not already written into it. */
function stackOf(err: unknown): string {
  const chain = causesOf(err);
  if (chain.length === 0) return String(err);
  let text = '';
  for (const e of chain) {
    const stack = e.stack ?? `${e.name}: ${e.message}`;
    if (!text.includes(stack)) text += text ? `\ncaused by: ${stack}` : stack;
  }
  return text;
}

/** Secrets of the configuration and credentials in URLs never reach the terminal, even in a library's message. */
function redact(text: string, config?: KtoConfig): string {
  let out = redactUrlsIn(text);
  // Short secrets would match ordinary words; kto's own messages never carry one.
  const secrets = [config?.kafka.saslPassword, config?.temporal.apiKey, config?.smtp.password, config?.schemaRegistry.password, config?.schemaRegistry.bearerToken].filter((s): s is string => !!s && s.length >= 4);
  for (const secret of secrets) out = out.split(secret).join(REDACTED);
  return out;
}
