/**
 * A TCP server on 127.0.0.1 that accepts every connection, reads what it is sent and never
 * answers: an S3 endpoint that hangs (a dead load balancer, a stuck server). A real server
 * cannot be made to do this on demand. `close()` ends every connection and the listener.
 */
import { createServer, type Socket } from 'node:net';

export interface SilentServer {
  readonly url: string;
  /** Connections accepted so far (each retry of a request opens one). */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
