import { LifeboatError } from '../errors.js';

/**
 * Runs `work` with a signal that SIGINT (Ctrl-C) or SIGTERM aborts, so long work stops
 * cleanly: temp files removed, multipart uploads aborted, locks released. A second signal
 * exits at once (130 / 143, as a shell reports them).
 */
export async function withInterrupt<T>(work: (signal: AbortSignal) => Promise<T>, what = 'the work'): Promise<T> {
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
    process.stderr.write(`lifeboat: ${signal}: stopping ${what} cleanly; again to exit at once\n`);
    stop.abort(new LifeboatError('ABORTED', `interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
