import { ConfigError } from '../errors.js';

export interface ListenAddress {
  /** '' = every interface (IPv6 and IPv4 where the system has both), as Litestream's `addr: ":9090"`. */
  readonly host: string;
  readonly port: number;
}

/**
 * `--listen` / LIFEBOAT_HTTP_LISTEN: `PORT` (on 127.0.0.1), `:PORT` (every interface, as in
 * Litestream), `HOST:PORT` or `[IPv6]:PORT`. Only what is asked for is exposed: a bare port
 * stays on the loopback interface.
 */
export function parseListen(value: string, origin = '--listen (LIFEBOAT_HTTP_LISTEN)'): ListenAddress {
  const text = value.trim();
  const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]*)):)?(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ConfigError([
      `${origin}: "${value}" is not a listen address; use PORT (127.0.0.1), :PORT (every interface), ` +
        `HOST:PORT or [IPv6]:PORT, e.g. 9464, :9464 or 0.0.0.0:9464`,
    ]);
  }
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

/** `host:port` as the operator wrote it (`:9464` for every interface). */
export function formatListen(at: ListenAddress): string {
  return `${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`;
}
