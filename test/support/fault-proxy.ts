/**
 * A fault-injecting TCP proxy on 127.0.0.1 in front of the real S3 server. This is the one
 * place the tests fake anything, and only what a real server cannot do on demand: drop a
 * connection mid-upload, answer with HTTP 500, or stall.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type Fault =
  | { kind: 'none' }
  /** Reset a connection once the client sent more than `afterBytes` on it; `times` connections (Infinity = all). */
  | { kind: 'reset'; afterBytes: number; times: number }
  /** Answer the first `times` connections with HTTP 500 and close them. */
  | { kind: 'http500'; times: number }
  /** Forward requests but never answer (a hung server). */
  | { kind: 'stall' };

export class FaultProxy {
  fault: Fault = { kind: 'none' };
  /** Faults injected so far. */
  injected = 0;
  connections = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<FaultProxy> {
    const { hostname, port } = new URL(target);
    if (hostname !== '127.0.0.1' && hostname !== 'localhost') throw new Error('the fault proxy only forwards to loopback');
    let proxy!: FaultProxy;
    const server = createServer((client) => proxy.handle(client, hostname, Number(port)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    proxy = new FaultProxy(server, `http://127.0.0.1:${address.port}`);
    return proxy;
  }

  private handle(client: Socket, host: string, port: number): void {
    this.connections++;
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    const fault = this.fault;
    if (fault.kind === 'http500' && this.injected < fault.times) {
      this.injected++;
      client.once('data', () => {
        client.end('HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nContent-Length: 75\r\nConnection: close\r\n\r\n<Error><Code>InternalError</Code><Message>injected</Message></Error>\n\n\n\n\n\n');
      });
      return;
    }
    const upstream = createConnection({ host, port });
    this.sockets.add(upstream);
    upstream.on('close', () => this.sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    let sent = 0;
    const resetThis = fault.kind === 'reset' && this.injected < fault.times;
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (resetThis && fault.kind === 'reset' && sent > fault.afterBytes) {
        this.injected++;
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    if (fault.kind !== 'stall') upstream.pipe(client);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
