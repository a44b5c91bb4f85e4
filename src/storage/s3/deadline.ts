/**
 * Time limits the SDK does not have: an overall deadline for a small request, retries
 * included, and a stall watch for a request that carries data, which may take as long as it
 * needs while its bytes move. Both fail with an error named `TimeoutError`, as the SDK's own
 * socket timeouts, so classifyS3Error reports S3_TIMEOUT.
 */

export function timeoutError(message: string): Error {
  return Object.assign(new Error(message), { name: 'TimeoutError' });
}

/** Raised when the store is closed while a request is in flight. */
export function closedError(): Error {
  return Object.assign(new Error('the S3 store was closed'), { name: 'AbortError' });
}

/**
 * Runs `call` with a signal that aborts when `ms` have passed or `stop` aborts, and rejects at
 * that moment: the SDK sees an abort only between its retries (its backoff sleeps do not
 * listen), and the caller must not wait for that. After `call` settles nothing fires any more,
 * so a download's body may stream for as long as it takes.
 */
export function withDeadline<T>(
  call: (signal: AbortSignal) => Promise<T>,
  ms: number,
  stop: AbortSignal | undefined,
  label?: string,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onStop: (() => void) | undefined;
  const cut = new Promise<never>((_resolve, reject) => {
    const fail = (reason: Error) => {
      reject(reason); // first, so this reason wins over the SDK's AbortError
      controller.abort(reason);
    };
    if (stop?.aborted) return fail(closedError());
    const text = `no answer within ${formatSeconds(ms)}`;
    timer = setTimeout(() => fail(timeoutError(label ? `${label}: ${text}` : text)), ms);
    onStop = () => fail(closedError());
    stop?.addEventListener('abort', onStop, { once: true });
  });
  const done = () => {
    clearTimeout(timer);
    if (onStop) stop?.removeEventListener('abort', onStop);
  };
  const running = controller.signal.aborted ? cut : Promise.race([call(controller.signal), cut]);
  return running.finally(done);
}

export interface StallWatch {
  /** The timeout error, once the watch fired. */
  readonly error: Error | undefined;
  stop(): void;
}

/**
 * Calls `onStall` once `lastMoved()` (a performance.now() time) is `ms` in the past. Re-armed
 * lazily: progress only moves a number, and the timer looks again when it fires.
 */
export function watchStall(
  lastMoved: () => number,
  ms: number,
  what: string,
  onStall: (err: Error) => void,
): StallWatch {
  let timer: NodeJS.Timeout | undefined;
  let error: Error | undefined;
  let stopped = false;
  const look = () => {
    if (stopped) return;
    const left = lastMoved() + ms - performance.now();
    if (left > 0) {
      timer = setTimeout(look, Math.ceil(left));
      return;
    }
    error = timeoutError(`${what}: no byte moved for ${formatSeconds(ms)}`);
    onStall(error);
  };
  look();
  return {
    get error() {
      return error;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

export function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
