import { type Logger, pino } from 'pino';
import { ConfigError } from './errors.js';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * A log level from an operator (`LIFEBOAT_LOG`, `--log-level`), any case. A typo must not
 * silently log at another level (or crash inside pino), so it is a configuration error
 * naming `name` and the valid values.
 */
export function parseLogLevel(value: string, name: string): LogLevel {
  const level = value.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new ConfigError([`${name}: ${JSON.stringify(value)} is not a log level; use one of ${LOG_LEVELS.join(', ')}`]);
}

export function parseLogFormat(value: string, name: string): LogFormat {
  const format = value.trim().toLowerCase();
  if ((LOG_FORMATS as readonly string[]).includes(format)) return format as LogFormat;
  throw new ConfigError([
    `${name}: ${JSON.stringify(value)} is not a log format; use one of ${LOG_FORMATS.join(', ')} ` +
      '(unset: pretty on a terminal, json otherwise)',
  ]);
}

/** The level and format the environment asks for (an empty variable counts as unset); ConfigError when invalid. */
export function logSettingsFromEnv(env: NodeJS.ProcessEnv): { level?: LogLevel; format?: LogFormat } {
  const level = env.LIFEBOAT_LOG ? parseLogLevel(env.LIFEBOAT_LOG, 'LIFEBOAT_LOG') : undefined;
  const format = env.LIFEBOAT_LOG_FORMAT ? parseLogFormat(env.LIFEBOAT_LOG_FORMAT, 'LIFEBOAT_LOG_FORMAT') : undefined;
  return { ...(level ? { level } : {}), ...(format ? { format } : {}) };
}

const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);
/** A character that would make a match part of a longer word, number or path. */
const CONTINUES = /[A-Za-z0-9_/\\-]/;

/**
 * Whether `value` already stands in `msg` as a whole token ("db=/x/app.db" adds nothing to
 * "restoring /x/app.db"), so a terminal line does not say everything twice. A token, not a
 * substring: `bytes=8` is not hidden by "18 MiB", nor `/x/a.db` by "/x/a.db.old" (a full
 * stop that ends a sentence is fine).
 */
export function mentions(msg: string, value: string): boolean {
  if (value === '') return false;
  for (let i = msg.indexOf(value); i >= 0; i = msg.indexOf(value, i + 1)) {
    const before = msg[i - 1] ?? '';
    const after = msg[i + value.length] ?? '';
    const afterNext = msg[i + value.length + 1] ?? '';
    const startsToken = before === '' || !(CONTINUES.test(before) || before === '.');
    const endsToken = after === '' || !(CONTINUES.test(after) || (after === '.' && /\S/.test(afterNext)));
    if (startsToken && endsToken) return true;
  }
  return false;
}

function shown(value: unknown): string {
  if (typeof value !== 'string') return JSON.stringify(value);
  // Quoted only when needed, so `k=v k2=v2` stays unambiguous for values with spaces.
  return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}

/**
 * One readable line per record for a person at a terminal:
 * `2026-12-06 10:00:01Z INFO  message  k=v`. Times are UTC, like everything Lifeboat prints
 * (backup names, `list`, JSON logs); fields the message already states are left out.
 */
export function prettyLine(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const iso = typeof rec.time === 'string' ? rec.time : '';
  const time = iso.length >= 19 ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z` : iso;
  const level = String(rec.level ?? '').toUpperCase();
  const msg = String(rec.msg ?? '');
  const extras = Object.entries(rec)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined)
    .filter(([, v]) => !((typeof v === 'string' || typeof v === 'number') && mentions(msg, String(v))))
    .map(([k, v]) => `${k}=${shown(v)}`);
  return `${time} ${level.padEnd(5)} ${msg}${extras.length ? `  ${extras.join(' ')}` : ''}\n`;
}

/** Secret-bearing fields, censored by path (see createLogger). */
const REDACT = { paths: ['secret', 's3_secret', 's3.secret', '*.secret', 'keys', 'encryption'], censor: '***' };

export interface LoggerOptions {
  /** Default: LIFEBOAT_LOG, else `info`. */
  readonly level?: string;
  /** Default: LIFEBOAT_LOG_FORMAT, else `pretty` on a terminal and `json` otherwise. */
  readonly format?: LogFormat;
  readonly stream?: NodeJS.WritableStream;
  /** Where LIFEBOAT_LOG and LIFEBOAT_LOG_FORMAT are read; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Structured logs on stderr, so stdout stays for command output: JSON lines for log
 * collectors (`"level":"info"`, `"time"` in UTC RFC 3339), or one readable line per record
 * on a terminal (LIFEBOAT_LOG_FORMAT overrides). A bad level or format is a ConfigError.
 * Secret-bearing fields are censored by path as a second line of defence; the first is
 * that secrets never leave the config module except to the S3 client and the cipher.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const fromEnv = logSettingsFromEnv(options.env ?? process.env);
  const level = options.level !== undefined ? parseLogLevel(options.level, 'log level') : (fromEnv.level ?? 'info');
  const stream = options.stream ?? process.stderr;
  const format: LogFormat =
    options.format ?? fromEnv.format ?? ((stream as NodeJS.WriteStream).isTTY ? 'pretty' : 'json');
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
      // Names and RFC 3339 times, not pino's numbers: readable by people and by every collector.
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: REDACT,
    },
    destination,
  );
}

/** A logger that drops everything (tests, and parts that are handed no logger). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** The structured part of a record: `{ backup: 'backup_node_1_….sqlite', ms: 812 }`, never a secret. */
export type LogFields = Record<string, unknown>;

/**
 * What an application may hand Lifeboat as its logger: pino, `console`, winston, bunyan, or
 * any object with these methods. A pino logger is used as it is (its level, serializers and
 * transports apply). Anything else is called message first — `warn(message)`, or
 * `warn(message, fields)` when the record has fields — which is what console and winston
 * expect; `debug` receives debug records only when the object has it.
 */
export interface LifeboatLogger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  debug?(message: string, fields?: LogFields): void;
}

/** pino's own mark on every logger and child (a global symbol, so any pino copy and version >= 5 has it). */
const PINO_MARK = Symbol.for('pino.serializers');

export function isPino(logger: LifeboatLogger): logger is LifeboatLogger & Logger {
  return PINO_MARK in logger;
}

const RECORD_KEYS = new Set(['level', 'time', 'msg']);

/**
 * The pino logger Lifeboat writes through, for the logger an application gave: pino itself,
 * or a pino whose records are handed to the application's methods. Going through pino keeps
 * every part of Lifeboat on one logging shape and applies the redaction paths and child
 * bindings before the application's logger sees a record. Without a logger, warnings and
 * errors go to stderr (LIFEBOAT_LOG and LIFEBOAT_LOG_FORMAT in `env` apply, as for the CLI):
 * a failing backup must not go unnoticed because nobody configured logging.
 */
export function libraryLogger(logger: LifeboatLogger | undefined, env: NodeJS.ProcessEnv): Logger {
  if (logger === undefined) return createLogger({ level: logSettingsFromEnv(env).level ?? 'warn', env });
  if (isPino(logger)) return logger;
  const write = (line: string) => {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const label = String(rec.level);
    const method =
      label === 'error' || label === 'fatal'
        ? logger.error
        : label === 'warn'
          ? logger.warn
          : label === 'info'
            ? logger.info
            : logger.debug;
    if (!method) return;
    const fields = Object.fromEntries(Object.entries(rec).filter(([k]) => !RECORD_KEYS.has(k)));
    const message = typeof rec.msg === 'string' ? rec.msg : '';
    try {
      if (Object.keys(fields).length === 0) method.call(logger, message);
      else method.call(logger, message, fields);
    } catch {
      // The application's logger failing must not fail a backup or a restore: the record is lost, the work goes on.
    }
  };
  return pino(
    {
      level: logger.debug ? 'debug' : 'info',
      base: undefined,
      timestamp: false,
      formatters: { level: (label) => ({ level: label }) },
      redact: REDACT,
    },
    { write },
  );
}
