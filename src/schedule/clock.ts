/** Time as the scheduler sees it: injected, so tests and library users can drive it. */
export interface Clock {
  now(): Date;
  /**
   * Resolves once `now()` has reached `when`, or as soon as `signal` aborts. Never rejects:
   * the caller checks `signal.aborted` afterwards, so stopping needs no try/catch. An invalid
   * date resolves at once.
   */
  sleepUntil(when: Date, signal: AbortSignal): Promise<void>;
}

// setTimeout cannot wait longer than 2^31-1 ms (~24.8 days); longer waits are chunked.
const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => new Date(),
  sleepUntil(when: Date, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      const arm = () => {
        // Re-read the real time on every wake-up: the wall clock may have jumped.
        const remaining = when.getTime() - Date.now();
        // NaN (an invalid date) would make setTimeout fire after 1 ms, forever.
        if (!(remaining > 0)) {
          signal.removeEventListener('abort', onAbort);
          return resolve();
        }
        timer = setTimeout(arm, Math.min(remaining, MAX_TIMER_MS));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      arm();
    });
  },
};
