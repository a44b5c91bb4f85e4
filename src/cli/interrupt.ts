/**
 * Runs `work` with Ctrl-C (SIGINT) and SIGTERM turned into an abort of its signal, so long
 * work stops cleanly: temp files removed, multipart uploads aborted, locks released. A second
 * signal gets Node's default behaviour (exit at once).
 */
export async function withInterrupt<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    controller.abort(new Error(`stopped by ${signal}`));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
