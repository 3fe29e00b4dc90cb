import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Starts `server` on `host:port` (0 asks the OS for a free port) and resolves with the bound port; rejects with the listen error (EADDRINUSE, ...). */
export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}
