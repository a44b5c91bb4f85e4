import type { Logger } from 'pino';
import { ConfigError, LifeboatError } from '../errors.js';
import { silentLogger } from '../log.js';
import { type Clock, systemClock } from './clock.js';
import type { CronSchedule } from './cron.js';

export interface RunContext {
  /** The tick this run belongs to; for a manual run, the time runNow() was called. */
  readonly scheduledAt: Date;
  /** 1 for the first attempt of a tick, 2.. for retries. */
  readonly attempt: number;
  readonly reason: 'schedule' | 'retry' | 'manual';
}

export interface RetryPolicy {
  /** Total attempts per tick, the first included. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export interface SchedulerOptions {
  readonly schedule: CronSchedule;
  readonly run: (ctx: RunContext) => Promise<void>;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly retry?: Partial<RetryPolicy>;
}

export interface SchedulerStats {
  readonly succeeded: number;
  readonly failed: number;
  /** Ticks not run because a run was still going, or because the process was suspended. */
  readonly skippedTicks: number;
  readonly lastSuccessAt: Date | undefined;
  readonly lastFailureAt: Date | undefined;
  readonly lastError: string | undefined;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 30_000, maxDelayMs: 600_000 };

// Counting missed ticks walks the schedule; a per-second schedule after a week asleep must not
// stall the loop, so the count stops here (and is reported as "at least").
const MISSED_COUNT_LIMIT = 1000;

/** Delay before attempt `attempt + 1`: exponential from the base, capped. Pure. */
export function retryDelay(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
}

function validPolicy(retry: Partial<RetryPolicy> | undefined): RetryPolicy {
  const policy = { ...DEFAULT_RETRY, ...retry };
  const problems: string[] = [];
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1)
    problems.push(`retry.maxAttempts: ${policy.maxAttempts} must be a whole number >= 1`);
  if (!Number.isFinite(policy.baseDelayMs) || policy.baseDelayMs < 0)
    problems.push(`retry.baseDelayMs: ${policy.baseDelayMs} must be a number of milliseconds >= 0`);
  if (!Number.isFinite(policy.maxDelayMs) || policy.maxDelayMs < policy.baseDelayMs)
    problems.push(`retry.maxDelayMs: ${policy.maxDelayMs} must be >= retry.baseDelayMs`);
  if (problems.length > 0) throw new ConfigError(problems, { hint: `defaults: ${JSON.stringify(DEFAULT_RETRY)}` });
  return policy;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Waits for a run without caring how it ended; true when it succeeded. */
const outcome = (run: Promise<void>): Promise<boolean> =>
  run.then(
    () => true,
    () => false,
  );

/**
 * Runs `run` at every fire time of a cron schedule.
 *
 * - Never two runs at once. A tick that comes while a run is going (a slow run, or a manual
 *   one) is skipped with a warning and counted in `skippedTicks`.
 * - A failed run is retried with exponential backoff, at most `maxAttempts` attempts per tick,
 *   and never at or past the next tick: the tick takes over. Later ticks happen as usual.
 * - A tick that comes late (the process was suspended, or the run took longer than the
 *   interval) runs once; the ticks passed in between are counted as skipped, not replayed.
 *   The next tick is always computed from the clock's current time.
 * - A Scheduler is used once: start(), then stop(); it does not restart.
 */
export class Scheduler {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly policy: RetryPolicy;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private current: Promise<void> | undefined;
  private nextAt: Date | undefined;
  private stats = {
    succeeded: 0,
    failed: 0,
    skippedTicks: 0,
    lastSuccessAt: undefined as Date | undefined,
    lastFailureAt: undefined as Date | undefined,
    lastError: undefined as string | undefined,
  };

  constructor(private readonly options: SchedulerOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
    this.policy = validPolicy(options.retry);
  }

  /** True while a run (scheduled, retry or manual) is in progress. */
  get isRunning(): boolean {
    return this.current !== undefined;
  }

  /**
   * When the scheduler will next start a run on its own: the next tick, or a pending retry.
   * Before start() it is the next tick from now; after stop(), or when the schedule has no
   * future time, undefined.
   */
  nextRunAt(): Date | undefined {
    if (this.abort.signal.aborted) return undefined;
    if (!this.loop) return this.options.schedule.next(this.clock.now());
    return this.nextAt;
  }

  getStats(): SchedulerStats {
    return { ...this.stats };
  }

  start(): void {
    if (this.loop || this.abort.signal.aborted) return;
    this.nextAt = this.options.schedule.next(this.clock.now());
    this.loop = this.tickLoop();
  }

  /** Stops the timers and waits for a run in progress to finish. Idempotent; never rejects. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.current) await outcome(this.current);
  }

  /**
   * Runs now, outside the schedule, and settles with the run's outcome. When a run is already
   * going it joins that run (same promise, same outcome) instead of starting a second one.
   * A manual run is attempted once; it is not retried. Rejects with SCHEDULER_STOPPED after stop().
   */
  runNow(): Promise<void> {
    if (this.current) return this.current;
    if (this.abort.signal.aborted) {
      return Promise.reject(
        new LifeboatError('SCHEDULER_STOPPED', 'the scheduler has been stopped; no new run is started', {
          hint: 'create a new Scheduler to run again',
        }),
      );
    }
    return this.execute({ scheduledAt: this.clock.now(), attempt: 1, reason: 'manual' });
  }

  private async tickLoop(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const next = this.options.schedule.next(this.clock.now());
      this.nextAt = next;
      if (!next) {
        this.logger.warn(
          { schedule: this.options.schedule.expression },
          'the schedule has no further fire time; scheduled runs stop',
        );
        return;
      }
      await this.clock.sleepUntil(next, signal);
      if (signal.aborted) return;
      // Woke early: the clock was set back while sleeping. Recompute from the new time.
      if (this.clock.now() < next) continue;
      this.nextAt = this.options.schedule.next(this.clock.now());
      await this.tick(next);
      this.countMissed(next);
    }
  }

  /** Ticks after `tick` that are already past: they were not run and will not be. */
  private countMissed(tick: Date): void {
    const now = this.clock.now();
    let missed = 0;
    let first: Date | undefined;
    for (
      let t = this.options.schedule.next(tick);
      t && t <= now && missed < MISSED_COUNT_LIMIT;
      t = this.options.schedule.next(t)
    ) {
      first ??= t;
      missed++;
    }
    if (missed === 0 || this.abort.signal.aborted) return;
    this.stats.skippedTicks += missed;
    this.logger.warn(
      { missed, first: first?.toISOString(), atLeast: missed >= MISSED_COUNT_LIMIT },
      'skipped scheduled runs: their time passed while a run was ' +
        'going or the process was suspended; continuing with the next one',
    );
  }

  private async tick(scheduledAt: Date): Promise<void> {
    if (this.current) {
      this.stats.skippedTicks++;
      this.logger.warn(
        { scheduledAt: scheduledAt.toISOString() },
        'skipped a scheduled run: the previous run is still going',
      );
      return;
    }
    const signal = this.abort.signal;
    for (let attempt = 1; ; attempt++) {
      let error: string;
      if (this.current) {
        // A manual run started during the backoff: its outcome stands in for this attempt,
        // rather than a second run beside it.
        if (await outcome(this.current)) {
          this.logger.info(
            { scheduledAt: scheduledAt.toISOString() },
            'a manual run succeeded during the retry backoff; no retry needed',
          );
          return;
        }
        error = this.stats.lastError ?? 'the manual run failed';
      } else {
        try {
          await this.execute({ scheduledAt, attempt, reason: attempt === 1 ? 'schedule' : 'retry' });
          return;
        } catch (err) {
          error = messageOf(err);
        }
      }
      if (signal.aborted) return;
      if (attempt >= this.policy.maxAttempts) {
        this.logger.error(
          { err: error, attempts: attempt, scheduledAt: scheduledAt.toISOString() },
          'scheduled run failed; giving up until the next scheduled time',
        );
        return;
      }
      const now = this.clock.now();
      const retryAt = new Date(now.getTime() + retryDelay(this.policy, attempt));
      const nextTick = this.options.schedule.next(now);
      if (nextTick && retryAt >= nextTick) {
        this.logger.error(
          { err: error, attempt, nextTick: nextTick.toISOString() },
          'scheduled run failed; the next scheduled run comes before a retry would',
        );
        return;
      }
      this.logger.error({ err: error, attempt, retryAt: retryAt.toISOString() }, 'scheduled run failed; retrying');
      this.nextAt = retryAt;
      await this.clock.sleepUntil(retryAt, signal);
      if (signal.aborted) return;
    }
  }

  private execute(ctx: RunContext): Promise<void> {
    let started: Promise<void>;
    try {
      started = Promise.resolve(this.options.run(ctx));
    } catch (err) {
      // A run function that throws before returning a promise fails like one that rejects.
      started = Promise.reject(err);
    }
    const run = started
      .then(
        () => {
          this.stats.succeeded++;
          this.stats.lastSuccessAt = this.clock.now();
          this.stats.lastError = undefined;
        },
        (err: unknown) => {
          this.stats.failed++;
          this.stats.lastFailureAt = this.clock.now();
          this.stats.lastError = messageOf(err);
          throw err;
        },
      )
      .finally(() => {
        this.current = undefined;
      });
    this.current = run;
    return run;
  }
}
