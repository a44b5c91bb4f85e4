/** Exit codes of the CLI: 0 ok, 1 the work failed, 2 usage or configuration error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

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
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: number = EXIT_FAILURE;

  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'LifeboatError';
    this.code = code;
    this.hint = details.hint;
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
