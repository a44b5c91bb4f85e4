import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { LifeboatError } from '../errors.js';
import { formatListen, type ListenAddress } from './listen.js';
import { assessHealth, newestRestorable, renderMetrics, type StatusReport } from './status.js';

/**
 * The optional status server of `lifeboat serve --listen`: GET /health (200 or 503, JSON) for
 * liveness probes and alerting, GET /metrics (Prometheus text). Read-only, no secrets: the
 * report holds names, times, sizes and error messages, which never carry credentials.
 */
export interface StatusServer {
  /** `http://host:port`, with the port actually bound (useful with port 0). */
  readonly url: string;
  close(): Promise<void>;
}

export async function startStatusServer(
  source: { statusReport(): Promise<StatusReport> },
  at: ListenAddress,
  logger: Logger,
): Promise<StatusServer> {
  const server = createServer((req, res) => {
    handle(source, req, res).catch((err: unknown) => {
      logger.error(
        { err: err instanceof Error ? err.message : String(err), path: req.url },
        'status server: request failed',
      );
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new LifeboatError(
          'LISTEN_FAILED',
          `cannot listen on ${formatListen(at)} for the status server: ${err.code ?? err.message}`,
          {
            hint:
              err.code === 'EADDRINUSE'
                ? 'another process uses that port; pick another with --listen / LIFEBOAT_HTTP_LISTEN'
                : 'check the address given to --listen / LIFEBOAT_HTTP_LISTEN',
          },
        ),
      ),
    );
    // No host: Node listens on every interface (`::` with IPv4 mapped in, where IPv6 exists).
    server.listen(at.port, at.host === '' ? undefined : at.host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  logger.info({ url }, `status server listening on ${url} (/health, /metrics)`);
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  source: { statusReport(): Promise<StatusReport> },
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://status').pathname;
  if (path !== '/health' && path !== '/metrics')
    return send(res, 404, 'text/plain; charset=utf-8', 'not found; try /health or /metrics\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  }
  const report = await source.statusReport();
  if (path === '/metrics')
    return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', renderMetrics(report), req.method === 'HEAD');
  const health = assessHealth(report);
  const body = {
    status: health.state,
    reason: health.reason,
    mode: report.mode,
    database: report.database,
    newestBackup: newestRestorable(report) ?? null,
    lastSuccess: report.lastSuccess ?? null,
    lastFailure: report.lastFailure ?? null,
    newestLocalBackup: report.newestLocal ?? null,
    localBackups: report.localCount,
    nextBackupAt: report.nextBackupAt ?? null,
    counts: { successes: report.successes, failures: report.failures, pushFailures: report.pushFailures },
    remote: report.remote ?? null,
    heartbeat: report.heartbeat ?? null,
  };
  send(
    res,
    health.healthy ? 200 : 503,
    'application/json; charset=utf-8',
    `${JSON.stringify(body, null, 2)}\n`,
    req.method === 'HEAD',
  );
}

function send(res: ServerResponse, status: number, type: string, body: string, headOnly = false): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(headOnly ? undefined : body);
}
