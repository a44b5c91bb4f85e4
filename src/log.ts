import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs (JSON lines) on stderr, so stdout stays for command output.
 * Secret-bearing fields are censored by path as a second line of defence; the first
 * is that secrets never leave the config module except to the S3 client and cipher.
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream | number } = {}): Logger {
  const level = options.level ?? process.env.LIFEBOAT_LOG ?? 'info';
  return pino(
    {
      name: 'lifeboat',
      level,
      redact: {
        paths: ['secret', 'key', 's3.secret', 's3.key', '*.secret', '*.s3.secret', 'keys', 'encryption'],
        censor: '***',
      },
    },
    pino.destination({ dest: typeof options.destination === 'number' ? options.destination : 2, sync: true }),
  );
}

/** A logger that drops everything; the default for library use without a logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
