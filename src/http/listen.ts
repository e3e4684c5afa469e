import type { Server } from 'node:net';

/** Starts a server listening on host:port (0 picks a free port) and returns the address it got. */
export async function listenTcp(server: Server, port: number, host: string): Promise<{ port: number; host: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  return { port: address.port, host: address.address };
}
