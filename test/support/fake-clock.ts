import type { Clock } from '../../src/schedule/clock.js';

interface Sleeper {
  readonly when: number;
  readonly resolve: () => void;
}

/**
 * A clock that moves only when told to. `nextSleep()` lets a test wait, without timers,
 * until the code under test is sleeping, and learn until when.
 */
export class FakeClock implements Clock {
  private current: number;
  private sleepers: Sleeper[] = [];
  private waiters: Array<(when: Date) => void> = [];

  constructor(start: Date | string | number) {
    this.current = new Date(start).getTime();
    if (Number.isNaN(this.current)) throw new RangeError(`FakeClock: "${String(start)}" is not a date`);
  }

  now(): Date {
    return new Date(this.current);
  }

  sleepUntil(when: Date, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted || !(when.getTime() > this.current)) return resolve();
      const sleeper: Sleeper = { when: when.getTime(), resolve };
      this.sleepers.push(sleeper);
      signal.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== sleeper);
          resolve();
        },
        { once: true },
      );
      for (const w of this.waiters.splice(0)) w(new Date(sleeper.when));
    });
  }

  /** Resolves with the wake-up time of the next sleep that starts (or of one already waiting). */
  nextSleep(): Promise<Date> {
    const pending = this.sleepers[this.sleepers.length - 1];
    if (pending) return Promise.resolve(new Date(pending.when));
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Number of sleeps currently waiting. */
  get sleeping(): number {
    return this.sleepers.length;
  }

  /** Moves time to `when` and wakes every sleeper that is due. */
  advanceTo(when: Date | string | number): void {
    const target = new Date(when).getTime();
    if (target < this.current) throw new RangeError('a FakeClock does not go backwards; use set() for jumps');
    this.set(target);
  }

  advance(ms: number): void {
    this.advanceTo(this.current + ms);
  }

  /** Sets the time (also backwards, like a wall-clock jump) and wakes due sleepers. */
  set(when: Date | string | number): void {
    const target = new Date(when).getTime();
    if (Number.isNaN(target)) throw new RangeError(`FakeClock: "${String(when)}" is not a date`);
    this.current = target;
    const due = this.sleepers.filter((s) => s.when <= this.current);
    this.sleepers = this.sleepers.filter((s) => s.when > this.current);
    for (const s of due) s.resolve();
  }
}
