import type { Logger } from 'pino';
import type { Clock } from '../schedule/clock.js';
import type { HeartbeatStatus } from './status.js';

/**
 * The heartbeat: one HTTP request after each successful backup, for dead-man services
 * (healthchecks.io, Cronitor, Uptime Kuma's push monitors, Better Stack heartbeats, …) that
 * alert when the pings stop. Successful means the run's result is `success`: the backup was
 * checked and kept, and pushed when a remote store is configured. A run whose push failed
 * sends nothing, so the service alerts when no backup leaves the machine.
 *
 * A heartbeat never fails a backup: it is bounded by a short timeout, and a failure is a
 * warning in the log and a count in /metrics. Its URL usually carries the service's token,
 * so logs, errors and /health name only its scheme and host.
 */

export type HeartbeatMethod = 'GET' | 'POST';

export interface HeartbeatOptions {
  readonly url: string;
  readonly method: HeartbeatMethod;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Per request, redirects included; default 10 s. */
  readonly timeoutMs?: number;
  /** `User-Agent: lifeboat/<version>`. */
  readonly version?: string;
}

/** What a POST tells the service about the backup (JSON); a GET sends nothing but the request. */
export interface HeartbeatBackup {
  /** The database's file name, as the `db` label of the metrics. */
  readonly database: string;
  readonly nodeId: number;
  readonly name: string;
  readonly startedAt: Date;
  readonly bytes: number;
  readonly durationMs: number;
  readonly pushed: boolean;
}

export const HEARTBEAT_TIMEOUT_MS = 10_000;

/** `https://hc-ping.com`: the part of a heartbeat URL that may be shown (no path, query or credentials). */
export function heartbeatTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'an invalid URL';
  }
}

export class Heartbeat {
  readonly #o: HeartbeatOptions;
  readonly #target: string;
  #successes = 0;
  #failures = 0;
  #lastSuccess: Date | undefined;
  #lastFailure: HeartbeatStatus['lastFailure'];
  readonly #inFlight = new Set<Promise<void>>();

  constructor(options: HeartbeatOptions) {
    this.#o = options;
    this.#target = heartbeatTarget(options.url);
  }

  status(): HeartbeatStatus {
    return {
      target: this.#target,
      method: this.#o.method,
      successes: this.#successes,
      failures: this.#failures,
      lastSuccess: this.#lastSuccess,
      lastFailure: this.#lastFailure,
    };
  }

  /** Sends the heartbeat for `backup`. Never rejects; a failure is logged and counted. */
  beat(backup: HeartbeatBackup): Promise<void> {
    const sent = this.#send(backup).finally(() => this.#inFlight.delete(sent));
    this.#inFlight.add(sent);
    return sent;
  }

  /** Resolves when every heartbeat in flight has finished (each is bounded by the timeout). */
  async settled(): Promise<void> {
    await Promise.all([...this.#inFlight]);
  }

  async #send(backup: HeartbeatBackup): Promise<void> {
    const { method, logger, clock } = this.#o;
    const timeoutMs = this.#o.timeoutMs ?? HEARTBEAT_TIMEOUT_MS;
    const t0 = performance.now();
    const headers: Record<string, string> = { 'User-Agent': `lifeboat/${this.#o.version ?? 'unknown'}` };
    let body: string | undefined;
    if (method === 'POST') {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify({
        event: 'backup',
        database: backup.database,
        nodeId: backup.nodeId,
        backup: backup.name,
        at: backup.startedAt.toISOString(),
        bytes: backup.bytes,
        durationMs: Math.round(backup.durationMs),
        pushed: backup.pushed,
      });
    }
    let failure: string | undefined;
    try {
      const res = await fetch(this.#o.url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
      // The answer's body is not needed; reading it to the end would only cost time.
      await res.body?.cancel().catch(() => undefined);
      if (!res.ok) failure = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    } catch (err) {
      failure = describeFetchError(err, timeoutMs);
    }
    const ms = Math.round(performance.now() - t0);
    const fields = { target: this.#target, method, backup: backup.name, ms };
    if (failure === undefined) {
      this.#successes++;
      this.#lastSuccess = clock.now();
      logger.info(fields, `heartbeat sent to ${this.#target}`);
      return;
    }
    this.#failures++;
    this.#lastFailure = { at: clock.now(), message: failure };
    logger.warn(
      { ...fields, err: failure },
      `heartbeat to ${this.#target} failed: ${failure}; the backup itself succeeded ` +
        '(check cluster.backup_heartbeat_url / HQL_BACKUP_HEARTBEAT_URL)',
    );
  }
}

/**
 * A network error by its code (ECONNREFUSED, ENOTFOUND, …) or a timeout: never the error's
 * own message, which may quote the URL and with it the token.
 */
function describeFetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
    return `no answer within ${timeoutMs / 1000} s`;
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  return code ? `network error ${code}` : 'network error';
}
