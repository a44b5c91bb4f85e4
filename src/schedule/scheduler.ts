import type { Logger } from 'pino';
import { silentLogger } from '../log.js';
import { systemClock, type Clock } from './clock.js';
import type { CronSchedule } from './cron.js';

export interface RunContext {
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
  /** Ticks not run because the previous run was still going. */
  readonly skippedTicks: number;
  readonly lastSuccessAt: Date | undefined;
  readonly lastError: string | undefined;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 30_000, maxDelayMs: 600_000 };

/** Delay before attempt `attempt + 1`: exponential from the base, capped. Pure. */
export function retryDelay(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
}

/**
 * Runs `run` at every fire time of a cron schedule. Never two runs at once; a failed run is
 * retried with exponential backoff a bounded number of times, but never past the next tick
 * (the tick takes over); ticks missed while a run was going (or the process was suspended)
 * are skipped with a warning, not replayed in a burst.
 */
export class Scheduler {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly policy: RetryPolicy;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private current: Promise<void> | undefined;
  private nextAt: Date | undefined;
  private stats: { succeeded: number; failed: number; skippedTicks: number; lastSuccessAt: Date | undefined; lastError: string | undefined } = {
    succeeded: 0,
    failed: 0,
    skippedTicks: 0,
    lastSuccessAt: undefined,
    lastError: undefined,
  };

  constructor(private readonly options: SchedulerOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger();
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.nextAt = options.schedule.next(this.clock.now());
  }

  get isRunning(): boolean {
    return this.current !== undefined;
  }

  nextRunAt(): Date | undefined {
    return this.nextAt;
  }

  getStats(): SchedulerStats {
    return { ...this.stats };
  }

  start(): void {
    if (this.loop || this.abort.signal.aborted) return;
    this.loop = this.tickLoop();
  }

  /** Stops the timers and waits for a run in progress to finish. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await this.current;
  }

  /** Runs now, outside the schedule; joins the run in progress instead of starting a second one. */
  runNow(): Promise<void> {
    if (this.current) return this.current;
    return this.execute({ scheduledAt: this.clock.now(), attempt: 1, reason: 'manual' });
  }

  private async tickLoop(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const next = this.options.schedule.next(this.clock.now());
      this.nextAt = next;
      if (!next) {
        this.logger.warn({ schedule: this.options.schedule.expression }, 'the schedule has no further fire time; scheduled backups stop');
        return;
      }
      await this.clock.sleepUntil(next, signal);
      if (signal.aborted) return;
      if (this.clock.now() < next) continue; // woke early: the clock moved back; recompute
      await this.tick(next);
      const missed = this.options.schedule.next(next);
      if (missed && missed <= this.clock.now() && !signal.aborted) {
        this.stats.skippedTicks++;
        this.logger.warn({ missed: missed.toISOString() }, 'skipped a scheduled run: the previous run (or a suspended process) was still going at that time');
      }
    }
  }

  private async tick(scheduledAt: Date): Promise<void> {
    if (this.current) {
      this.stats.skippedTicks++;
      this.logger.warn({ scheduledAt: scheduledAt.toISOString() }, 'skipped a scheduled run: the previous run is still going');
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await this.execute({ scheduledAt, attempt, reason: attempt === 1 ? 'schedule' : 'retry' });
        return;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (attempt >= this.policy.maxAttempts) {
          this.logger.error({ err: message, attempts: attempt }, 'scheduled run failed; giving up until the next scheduled time');
          return;
        }
        const retryAt = new Date(this.clock.now().getTime() + retryDelay(this.policy, attempt));
        const nextTick = this.options.schedule.next(this.clock.now());
        if (nextTick && retryAt >= nextTick) {
          this.logger.error({ err: message, attempt }, 'scheduled run failed; the next scheduled run comes before a retry would');
          return;
        }
        this.logger.error({ err: message, attempt, retryAt: retryAt.toISOString() }, 'scheduled run failed; retrying');
        this.nextAt = retryAt;
        await this.clock.sleepUntil(retryAt, this.abort.signal);
        if (this.abort.signal.aborted) return;
      }
    }
  }

  private execute(ctx: RunContext): Promise<void> {
    const run = (async () => {
      try {
        await this.options.run(ctx);
        this.stats.succeeded++;
        this.stats.lastSuccessAt = this.clock.now();
        this.stats.lastError = undefined;
      } catch (err) {
        this.stats.failed++;
        this.stats.lastError = err instanceof Error ? err.message : String(err);
        throw err;
      } finally {
        this.current = undefined;
      }
    })();
    this.current = run.catch(() => undefined);
    return run;
  }
}
