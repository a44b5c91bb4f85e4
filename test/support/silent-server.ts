/**
 * A TCP server on 127.0.0.1 that accepts every connection, reads what it is sent and never
 * answers: an S3 endpoint that hangs (a dead load balancer, a stuck server). A real server
 * cannot be made to do this on demand. `close()` ends every connection and the listener.
 */
import { createServer, type Socket } from 'node:net';
import { listenOnLoopback } from './listen.js';

export interface SilentServer {
  readonly url: string;
  /** Connections accepted so far (each retry of a request opens one). */
  readonly connections: number;
  /** performance.now() when the first connection was accepted (undefined before). */
  readonly firstConnectionAt: number | undefined;
  close(): Promise<void>;
}

export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  let connections = 0;
  let firstConnectionAt: number | undefined;
  const server = createServer((socket) => {
    connections++;
    firstConnectionAt ??= performance.now();
    sockets.add(socket);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    get connections() {
      return connections;
    },
    get firstConnectionAt() {
      return firstConnectionAt;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
