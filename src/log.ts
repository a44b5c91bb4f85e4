import { type Logger, pino } from 'pino';

export type { Logger };

export type LogFormat = 'json' | 'pretty';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);

/** One readable line per record for a person at a terminal: `12:00:01 INFO message k=v`. */
function prettyLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 19) : '';
  const level = LEVELS[Number(rec.level)] ?? String(rec.level);
  const extras = Object.entries(rec)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${time} ${level.padEnd(5)} ${String(rec.msg ?? '')}${extras.length ? `  ${extras.join(' ')}` : ''}\n`;
}

/**
 * Structured logs on stderr, so stdout stays for command output: JSON lines for log
 * collectors, or one readable line per record on a terminal (LIFEBOAT_LOG_FORMAT overrides).
 * Secret-bearing fields are censored by path as a second line of defence; the first is
 * that secrets never leave the config module except to the S3 client and the cipher.
 */
export function createLogger(
  options: { level?: string; format?: LogFormat; stream?: NodeJS.WritableStream } = {},
): Logger {
  const level = options.level ?? process.env.LIFEBOAT_LOG ?? 'info';
  const stream = options.stream ?? process.stderr;
  const envFormat = process.env.LIFEBOAT_LOG_FORMAT;
  const format: LogFormat =
    options.format ??
    (envFormat === 'json' || envFormat === 'pretty'
      ? envFormat
      : (stream as NodeJS.WriteStream).isTTY
        ? 'pretty'
        : 'json');
  // Synchronous writes to fd 2, so the last lines before an exit are never lost.
  // On a terminal a progress line may be drawn (src/cli/progress.ts): clear it before a log
  // line, or both end up on one row; the progress line is redrawn on its next update.
  const clear = (stream as NodeJS.WriteStream).isTTY ? '\r\u001b[K' : '';
  const destination =
    format === 'pretty'
      ? { write: (line: string) => stream.write(clear + prettyLine(line)) }
      : stream === process.stderr
        ? pino.destination({ dest: 2, sync: true })
        : stream;
  return pino(
    {
      name: 'lifeboat',
      level,
      base: undefined,
      redact: { paths: ['secret', 's3_secret', 's3.secret', '*.secret', 'keys', 'encryption'], censor: '***' },
    },
    destination,
  );
}

/** A logger that drops everything; the default for library use without a logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
