import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { TemporalConfig } from '../runtime/config';

/** TLS and API-key options shared by the client and the worker connections. */
function connectionOptions(config: TemporalConfig): ConnectionOptions & NativeConnectionOptions {
  const tlsFiles = config.tlsCertPath && config.tlsKeyPath;
  const tls = tlsFiles
    ? {
        clientCertPair: { crt: readFileSync(config.tlsCertPath!), key: readFileSync(config.tlsKeyPath!) },
        serverRootCACertificate: config.tlsCaPath ? readFileSync(config.tlsCaPath) : undefined,
      }
    : config.apiKey
      ? true
      : undefined;
  return { address: config.address, tls, apiKey: config.apiKey };
}

/** How long a client waits for the server. */
export interface ClientConnectOptions {
  /** How long to wait for the server to answer before giving up. @default 10 s (the SDK's) */
  connectTimeout?: ConnectionOptions['connectTimeout'];
}

export async function connectClient(config: TemporalConfig, options: ClientConnectOptions = {}): Promise<Client> {
  const connection = await Connection.connect({ ...connectionOptions(config), ...options });
  return new Client({ connection, namespace: config.namespace });
}

export async function connectWorker(config: TemporalConfig): Promise<NativeConnection> {
  return NativeConnection.connect(connectionOptions(config));
}
