import { describeError, exitCodeOf } from '../errors.js';

/**
 * Wraps a command action: prints a failure as one readable message on stderr (no
 * stack unless LIFEBOAT_DEBUG is set) and sets the exit code (1 failure, 2 usage/config).
 */
// `unknown`: an action returns an exit code, or nothing (void), and only a number is used.
export function action<A extends unknown[]>(fn: (...args: A) => unknown) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      process.stderr.write(`lifeboat: ${describeError(err)}\n`);
      if (process.env.LIFEBOAT_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
      process.exitCode = exitCodeOf(err);
    }
  };
}
