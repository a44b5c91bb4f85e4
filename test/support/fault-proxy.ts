/**
 * A fault-injecting TCP proxy on 127.0.0.1 in front of the real S3 server (radosgw). This
 * is the one place the S3 tests fake anything, and only what a real server cannot be made
 * to do on demand: drop a connection in the middle of a request, answer with a 500 or a
 * 503 SlowDown, hang, or send its answer very slowly. Everything else — signatures, error
 * codes, multipart bookkeeping — comes from the real server behind it.
 *
 * Faults are decided per TCP connection when it opens (the SDK keeps connections alive,
 * but a faulted one is always closed, so each retry arrives on a fresh connection).
 * Set `proxy.fault` in a test; `injected` counts the faults so a test can prove they
 * happened. `close()` ends every connection and the listener.
 */
import { createHash, createHmac } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { listenOnLoopback } from './listen.js';

export type Fault =
  | { readonly kind: 'none' }
  /** Reset the next `times` connections (Infinity = all) once the client has sent more than `afterBytes` on one. */
  | { readonly kind: 'reset'; readonly afterBytes: number; readonly times: number }
  /** Answer the next `times` connections with this HTTP status and S3 error code, then close them. */
  | {
      readonly kind: 'status';
      readonly status: 500 | 503;
      readonly code: 'InternalError' | 'SlowDown' | 'ServiceUnavailable';
      readonly times: number;
    }
  /**
   * Reset connections (the next `times` that get this far) once the server has sent more than
   * `afterBytes` back on one: a download cut in the middle.
   */
  | { readonly kind: 'cut'; readonly afterBytes: number; readonly times: number }
  /** Forward requests, never answer (a hung server). */
  | { readonly kind: 'stall' }
  /**
   * Forward normally until the client has sent more than `afterBytes` on a connection; from
   * then on nothing more passes that connection either way (a server that hangs mid-upload).
   */
  | { readonly kind: 'hangAfter'; readonly afterBytes: number }
  /** Forward everything, but take the client's bytes at this rate (a slow uplink: bytes keep moving). */
  | { readonly kind: 'slowUpload'; readonly bytesPerSecond: number }
  /** Forward requests; pass the answers back at this rate (a server too slow to be useful). */
  | { readonly kind: 'throttle'; readonly bytesPerSecond: number }
  /**
   * Remove `If-None-Match` and `If-Match` from every request and sign it again with this secret
   * (the SDK signs both headers): a store that ignores conditional writes, as Garage v2 does.
   * Ceph RGW honours both headers, so only this proxy can show Lifeboat such a store.
   */
  | { readonly kind: 'stripConditions'; readonly secretKey: string }
  /**
   * Answer 501 NotImplemented to every request that carries `If-None-Match` or `If-Match`, as
   * Backblaze B2 does, and forward the rest; Ceph RGW cannot be made to refuse them.
   */
  | { readonly kind: 'refuseConditions' }
  /**
   * Forward everything, but reset the connection as the server starts to answer a request whose
   * request line (`POST /bucket/key?uploadId=… HTTP/1.1`) matches, the next `times` such requests:
   * that request was applied and its answer lost, and no other request is touched. With
   * `afterwards: 'NoSuchUpload'`, matching requests beyond those are answered 404 NoSuchUpload by
   * the proxy, not forwarded — what MinIO and other servers answer to a CompleteMultipartUpload
   * retried after it succeeded, which Ceph RGW answers with 200 again.
   */
  | {
      readonly kind: 'cutAnswerTo';
      readonly request: RegExp;
      readonly times: number;
      readonly afterwards?: 'NoSuchUpload';
    };

/** Shorthands for the common faults. */
export const faults = {
  http500: (times: number): Fault => ({ kind: 'status', status: 500, code: 'InternalError', times }),
  slowDown: (times: number): Fault => ({ kind: 'status', status: 503, code: 'SlowDown', times }),
} as const;

const TICK_MS = 50;

export class FaultProxy {
  /** The fault applied to connections opened from now on. */
  fault: Fault = { kind: 'none' };
  /** Faults injected so far (connections reset or answered with an error). */
  injected = 0;
  /** Connections accepted so far. */
  connections = 0;
  /** Bytes passed on to the server so far (requests, including bodies). */
  bytesUp = 0;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Hang one open connection each (see hang()). */
  private readonly freezers = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly target: { host: string; port: number },
  ) {}

  /** Starts a proxy in front of `target` (an http://127.0.0.1:PORT URL). */
  static async start(target: string): Promise<FaultProxy> {
    const { hostname, port } = new URL(target);
    if (hostname !== '127.0.0.1' && hostname !== 'localhost')
      throw new Error('the fault proxy only forwards to loopback');
    let proxy: FaultProxy | undefined;
    const server = createServer((client) => proxy?.handle(client));
    proxy = new FaultProxy(server, await listenOnLoopback(server), { host: '127.0.0.1', port: Number(port) });
    return proxy;
  }

  /**
   * The whole server hangs from now on: nothing more passes any open connection, and new ones
   * get `next`: by default nothing they send reaches the server; `{ kind: 'stall' }` lets their
   * requests through (the server acts on them) but no answer back. set() ends it for new ones.
   */
  hang(next: Fault = { kind: 'hangAfter', afterBytes: 0 }): void {
    this.fault = next;
    for (const freeze of this.freezers) freeze();
  }

  /** Resets every open connection (a server going down): the next requests open new ones, which get the fault. */
  resetOpen(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** Sets the fault for new connections and zeroes the `injected` count. */
  set(fault: Fault): void {
    this.fault = fault;
    this.injected = 0;
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined); // resets are what this proxy is for
  }

  private handle(client: Socket): void {
    this.connections++;
    this.track(client);
    const fault = this.fault;
    if (fault.kind === 'status' && this.injected < fault.times) {
      this.injected++;
      const reason = fault.status === 500 ? 'Internal Server Error' : 'Service Unavailable';
      // Answer once the request has started to arrive, as a real server would.
      client.once('data', () => client.end(s3Error(`${fault.status} ${reason}`, fault.code, reason)));
      return;
    }
    if (fault.kind === 'stripConditions' || fault.kind === 'refuseConditions' || fault.kind === 'cutAnswerTo') {
      this.perRequest(client, fault);
      return;
    }
    const upstream = createConnection(this.target);
    this.track(upstream);
    let hung = false;
    const freeze = () => {
      hung = true;
      client.pause(); // the server stops reading: the client's writes back up
      upstream.unpipe(client);
    };
    this.freezers.add(freeze);
    // A hung connection stays open whatever the server does with the half request it got.
    upstream.on('close', () => hung || client.destroy());
    client.on('close', () => {
      this.freezers.delete(freeze);
      upstream.destroy();
    });

    const resetThis = fault.kind === 'reset' && this.injected < fault.times;
    if (resetThis) this.injected++;
    let sent = 0;
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (resetThis && sent > fault.afterBytes) {
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      if (hung) return;
      if (fault.kind === 'hangAfter' && sent > fault.afterBytes) {
        this.injected++;
        freeze();
        return;
      }
      this.bytesUp += chunk.length;
      if (fault.kind === 'slowUpload') {
        client.pause();
        upstream.write(chunk);
        // A timer models the slow link; it is not used to wait for anything.
        const timer = setTimeout(
          () => {
            this.timers.delete(timer);
            client.resume();
          },
          (chunk.length * 1000) / fault.bytesPerSecond,
        );
        this.timers.add(timer);
        return;
      }
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });

    if (fault.kind === 'stall') return; // the answer never comes back
    if (fault.kind === 'throttle') {
      this.throttle(upstream, client, fault.bytesPerSecond);
      return;
    }
    if (fault.kind === 'cut') {
      let received = 0;
      upstream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > fault.afterBytes && this.injected < fault.times) {
          this.injected++;
          client.resetAndDestroy();
          upstream.destroy();
          return;
        }
        if (!client.write(chunk)) {
          upstream.pause();
          client.once('drain', () => upstream.resume());
        }
      });
      upstream.on('end', () => client.end());
      return;
    }
    upstream.pipe(client);
  }

  /**
   * Reads the client's requests one by one (head, then Content-Length bytes of body: the SDK
   * sends every body Lifeboat gives it with a length) and strips or refuses those with a
   * condition, or cuts the answer to the matching one. Other answers pass back unchanged (the
   * SDK does not pipeline: the bytes after a request are its answer).
   */
  private perRequest(
    client: Socket,
    fault: Extract<Fault, { kind: 'stripConditions' | 'refuseConditions' | 'cutAnswerTo' }>,
  ): void {
    const upstream = createConnection(this.target);
    this.track(upstream);
    let cutNext = false;
    upstream.on('data', (chunk: Buffer) => {
      if (cutNext) {
        client.resetAndDestroy();
        upstream.destroy();
      } else if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    upstream.on('end', () => client.end());
    let answered = false; // by the proxy: the client keeps its answer when the upstream closes
    upstream.on('close', () => answered || client.destroy());
    client.on('close', () => upstream.destroy());
    let pending = Buffer.alloc(0);
    let bodyLeft = 0;
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length > 0) {
        if (bodyLeft > 0) {
          const n = Math.min(bodyLeft, pending.length);
          upstream.write(pending.subarray(0, n));
          this.bytesUp += n;
          bodyLeft -= n;
          pending = pending.subarray(n);
          continue;
        }
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = pending.subarray(0, end).toString('latin1').split('\r\n');
        pending = pending.subarray(end + 4);
        const header = (name: string) => lines.find((l) => l.toLowerCase().startsWith(`${name}:`));
        if (header('transfer-encoding')) {
          client.destroy(new Error('the fault proxy reads only requests with a Content-Length'));
          return;
        }
        bodyLeft = Number(header('content-length')?.split(':')[1]?.trim() ?? 0);
        const isCondition = (l: string) => /^if-(none-)?match:/i.test(l);
        let head = lines;
        if (fault.kind === 'cutAnswerTo') {
          if (fault.request.test(lines[0] ?? '')) {
            if (this.injected < fault.times) cutNext = true;
            else if (fault.afterwards) {
              this.injected++;
              answered = true;
              client.end(s3Error('404 Not Found', 'NoSuchUpload', 'The specified upload does not exist'));
              upstream.destroy();
              return;
            }
            if (cutNext) this.injected++;
          }
        } else if (lines.some(isCondition)) {
          this.injected++;
          if (fault.kind === 'refuseConditions') {
            answered = true;
            const message = 'A header you provided implies functionality that is not implemented';
            client.end(s3Error('501 Not Implemented', 'NotImplemented', message));
            upstream.destroy();
            return;
          }
          head = resign(
            lines.filter((l) => !isCondition(l)),
            fault.secretKey,
          );
        }
        const bytes = Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1');
        this.bytesUp += bytes.length;
        upstream.write(bytes);
      }
    });
  }

  /** Passes upstream's bytes to the client at `rate` bytes per second, in TICK_MS slices. */
  private throttle(upstream: Socket, client: Socket, rate: number): void {
    const perTick = Math.max(1, Math.floor((rate * TICK_MS) / 1000));
    let pending = Buffer.alloc(0);
    let upstreamEnded = false;
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
    });
    upstream.on('end', () => (upstreamEnded = true));
    // A timer models the slow link; it is not used to wait for anything.
    const timer = setInterval(() => {
      if (pending.length > 0) {
        client.write(pending.subarray(0, perTick));
        pending = pending.subarray(perTick);
      } else if (upstreamEnded) {
        client.end();
      }
    }, TICK_MS);
    this.timers.add(timer);
    client.on('close', () => {
      clearInterval(timer);
      this.timers.delete(timer);
    });
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The request head `lines` signed again (AWS Signature V4, as the SDK signed it) without the
 * headers that were removed: same date, scope and payload hash, fewer signed headers.
 */
function resign(lines: readonly string[], secretKey: string): string[] {
  const [requestLine = '', ...fields] = lines;
  const headers = new Map(
    fields.map((l) => {
      const i = l.indexOf(':');
      return [
        l.slice(0, i).trim().toLowerCase(),
        l
          .slice(i + 1)
          .trim()
          .replace(/\s+/g, ' '),
      ] as const;
    }),
  );
  const auth = /Credential=([^/]+)\/([^,]+), SignedHeaders=([^,]+), Signature=/.exec(
    headers.get('authorization') ?? '',
  );
  if (!auth) throw new Error('the fault proxy can re-sign only AWS4-HMAC-SHA256 header signatures');
  const [, accessKey, scope = '', signedList = ''] = auth;
  const [date = '', region = '', service = ''] = scope.split('/');
  const signed = signedList.split(';').filter((h) => headers.has(h));
  const [method, target = ''] = requestLine.split(' ');
  const [path, query = ''] = target.split('?');
  const canonicalQuery = query
    .split('&')
    .filter(Boolean)
    .map((p) => (p.includes('=') ? p.split('=', 2) : [p, '']) as [string, string])
    .sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonical = [
    method,
    path,
    canonicalQuery,
    signed.map((h) => `${h}:${headers.get(h)}\n`).join(''),
    signed.join(';'),
    headers.get('x-amz-content-sha256'),
  ].join('\n');
  const toSign = [
    'AWS4-HMAC-SHA256',
    headers.get('x-amz-date'),
    scope,
    createHash('sha256').update(canonical).digest('hex'),
  ].join('\n');
  let key: Buffer = Buffer.from(`AWS4${secretKey}`);
  for (const part of [date, region, service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  const authorization =
    `authorization: AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, ` +
    `SignedHeaders=${signed.join(';')}, Signature=${signature}`;
  return [requestLine, ...fields.map((l) => (l.toLowerCase().startsWith('authorization:') ? authorization : l))];
}

/** An S3 error answer made by the proxy, closing the connection. */
function s3Error(status: string, code: string, message: string): string {
  const body =
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message} (injected by the test ` +
    'proxy)</Message></Error>';
  return (
    `HTTP/1.1 ${status}\r\nContent-Type: application/xml\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}
