/**
 * Exit codes of the CLI: 0 ok, 1 the work failed, 2 usage or configuration error, 3 the local
 * backup was written and kept but its push to the remote store failed, 4 no backup to restore,
 * 5 `lifeboat pitr status`: restorable, but a check failed.
 */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_PUSH_FAILED = 3;
/** `lifeboat restore`/`verify` found no backup to restore (`s3:latest` or `local:latest` with none). */
export const EXIT_NO_BACKUPS = 4;
/**
 * `lifeboat pitr status`: something is restorable, but the newest restorable transaction is older
 * than `--max-age`, or `restore --pitr latest` would be refused (shipped transactions lie beyond a hole).
 */
export const EXIT_CHECK_FAILED = 5;

/**
 * Every code a LifeboatError carries: `err.code` for library callers, and the `code` of an
 * error in the JSON logs. docs/errors.md says for each what happened and what to do
 * (test/errors.test.ts keeps the two lists equal).
 */
export const ERROR_CODES = [
  // Configuration and usage (only ConfigError's CONFIG_INVALID exits with 2)
  'CONFIG_INVALID',
  'CRON_INVALID',
  'S3_OPTIONS',
  'LISTEN_FAILED',
  // The database and its snapshot
  'DB_MISSING',
  'DB_NOT_FILE',
  'LOCKED',
  'LOCK_FAILED',
  'SNAPSHOT_CORRUPT',
  'SNAPSHOT_TABLES_MISSING',
  'SNAPSHOT_FAILED',
  'SQLITE_ERROR',
  'WORKER_EXIT',
  // A backup run
  'REMOTE_PUSH_FAILED',
  'SOURCE_CHANGED',
  'SOURCE_CLOSED',
  // Backup stores (local folder, S3)
  'NOT_FOUND',
  'NO_BACKUPS',
  'NO_SPACE',
  'BAD_NAME',
  'EXISTS',
  'STAGE_ENDED',
  'ABORTED',
  'S3_UNREACHABLE',
  'S3_TIMEOUT',
  'S3_AUTH',
  'S3_REGION',
  'S3_CLOCK_SKEW',
  'S3_NO_BUCKET',
  'S3_ERROR',
  // Encryption (cryptr format)
  'KEY_UNKNOWN',
  'AUTH_FAILED',
  'TRUNCATED',
  'TRAILING_DATA',
  'BAD_HEADER',
  'BAD_KEY',
  'BAD_KEY_ID',
  'BAD_CHUNK_SIZE',
  'STREAM_TOO_LONG',
  // Restore
  'NOT_A_FILE',
  'NOT_SQLITE',
  'SOURCE_INCOMPLETE',
  'BACKUP_INVALID',
  'DB_IN_USE',
  'MARKER_UNREADABLE',
  'RESTORE_BROKEN',
  'RESTORE_CONFLICT',
  'RESTORE_INCOMPLETE',
  'RESTORE_SIDECAR',
  // Which database a store belongs to
  'WRONG_DATABASE',
  'IDENTITY_UNREADABLE',
  // Files written by encrypt/decrypt
  'OUTPUT_EXISTS',
  'OUTPUT_IS_DIRECTORY',
  'SAME_FILE',
  'IO_ERROR',
  // The library's objects
  'CLOSED',
  'NO_HANDLE',
  'SCHEDULER_STOPPED',
  // Continuous backup (PITR)
  'PITR_NO_CONDITIONAL_WRITES',
  'PITR_SQLITE_WAL_RESET_BUG',
  'PITR_KEY_MISSING',
  'PITR_OBJECT_TAMPERED',
  'PITR_OBJECT_MISMATCH',
  'PITR_OBJECT_MALFORMED',
  'PITR_OBJECT_MISSING',
  'PITR_CHAIN_GAP',
  'PITR_BUCKET_BEHIND',
  'PITR_CHECKSUM_MISMATCH',
  'PITR_TARGET_UNRESTORABLE',
  'PITR_NOT_WAL',
  'PITR_BASE_FAILED',
  'PITR_FENCED',
  'PITR_NOT_RUNNING',
  'PITR_FLUSH_INCOMPLETE',
  'PITR_LEASE_HELD',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Codes whose CLI exit code is not EXIT_FAILURE (CONFIG_INVALID's 2 comes with ConfigError). */
const EXIT_CODES: Partial<Record<ErrorCode, number>> = {
  REMOTE_PUSH_FAILED: EXIT_PUSH_FAILED,
  NO_BACKUPS: EXIT_NO_BACKUPS,
};

export interface ErrorDetails {
  /** What the operator should check or do next (a key, an env var, a command). */
  hint?: string;
  cause?: unknown;
}

/**
 * Every error Lifeboat raises on purpose: a stable code, a message that names the
 * key/file/object involved, and a hint. Messages never contain secrets.
 */
export class LifeboatError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'LifeboatError';
    this.code = code;
    this.hint = details.hint;
    this.exitCode = EXIT_CODES[code] ?? EXIT_FAILURE;
  }
}

/** Invalid configuration or usage: the CLI exits with 2 and nothing was changed. */
export class ConfigError extends LifeboatError {
  override readonly exitCode = EXIT_USAGE;
  /** Every problem found, so an operator can fix them all in one go. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], details: ErrorDetails = {}) {
    super(
      'CONFIG_INVALID',
      problems.length === 1 ? problems[0]! : `invalid configuration:\n  - ${problems.join('\n  - ')}`,
      details,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** One line for a human: message plus hint, without a stack. */
export function describeError(err: unknown): string {
  if (err instanceof LifeboatError) {
    return err.hint ? `${err.message}\n  hint: ${err.hint}` : err.message;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

export function exitCodeOf(err: unknown): number {
  return err instanceof LifeboatError ? err.exitCode : EXIT_FAILURE;
}
