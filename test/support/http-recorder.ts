/**
 * An HTTP server on 127.0.0.1 that records every request and answers with the status the test
 * chooses: the far end of a heartbeat (a dead-man service) without leaving the machine.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { listenOnLoopback } from './listen.js';

export interface RecordedRequest {
  readonly method: string;
  /** Path and query. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface HttpRecorder {
  readonly url: string;
  readonly requests: readonly RecordedRequest[];
  /** Resolves with the request number `index` (0-based) once it has arrived. */
  request(index: number): Promise<RecordedRequest>;
  /** The status of the following answers (default 200). */
  answer(status: number): void;
  close(): Promise<void>;
}

export async function startHttpRecorder(): Promise<HttpRecorder> {
  const requests: RecordedRequest[] = [];
  const waiters: Array<{ index: number; resolve: (r: RecordedRequest) => void }> = [];
  let status = 200;
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      requests.push(recorded);
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end('OK');
      for (const w of waiters.filter((w) => w.index === requests.length - 1)) w.resolve(recorded);
    });
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    requests,
    request: (index) =>
      requests[index] ? Promise.resolve(requests[index]) : new Promise((resolve) => waiters.push({ index, resolve })),
    answer: (s) => {
      status = s;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
