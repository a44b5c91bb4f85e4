import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, LifeboatError } from '../../src/errors.js';
import { systemClock } from '../../src/schedule/clock.js';
import { parseCron } from '../../src/schedule/cron.js';
import { type RunContext, retryDelay, Scheduler } from '../../src/schedule/scheduler.js';
import { FakeClock } from '../support/fake-clock.js';

const EVERY_MINUTE = parseCron('0 * * * * *', { timeZone: 'UTC' });

/** A run the test finishes by hand, to hold a run "in progress" without timers. */
function controllable() {
  const calls: RunContext[] = [];
  const pending: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  let started: () => void = () => undefined;
  const run = (ctx: RunContext) =>
    new Promise<void>((resolve, reject) => {
      calls.push(ctx);
      pending.push({ resolve, reject });
      started();
    });
  const nextStart = () => new Promise<void>((r) => (started = r));
  return { run, calls, pending, nextStart };
}

test('fires at each scheduled instant of the injected clock', async () => {
  const clock = new FakeClock('2026-11-24T10:00:30Z');
  const fired: string[] = [];
  const s = new Scheduler({
    schedule: EVERY_MINUTE,
    clock,
    run: async (ctx) => void fired.push(ctx.scheduledAt.toISOString()),
  });
  assert.equal(s.nextRunAt()?.toISOString(), '2026-11-24T10:01:00.000Z');
  s.start();
  for (const expected of ['2026-11-24T10:01:00.000Z', '2026-11-24T10:02:00.000Z', '2026-11-24T10:03:00.000Z']) {
    const wake = await clock.nextSleep();
    assert.equal(wake.toISOString(), expected);
    clock.advanceTo(wake);
  }
  await clock.nextSleep();
  await s.stop();
  assert.deepEqual(fired, ['2026-11-24T10:01:00.000Z', '2026-11-24T10:02:00.000Z', '2026-11-24T10:03:00.000Z']);
  assert.equal(s.getStats().succeeded, 3);
});

test('a run that spans the next tick is not overlapped; the missed tick is skipped and counted', async () => {
  const clock = new FakeClock('2026-11-24T10:00:30Z');
  const c = controllable();
  const s = new Scheduler({ schedule: EVERY_MINUTE, clock, run: c.run });
  s.start();
  const started = c.nextStart();
  clock.advanceTo(await clock.nextSleep()); // 10:01 fires
  await started;
  assert.equal(s.isRunning, true);
  clock.advanceTo('2026-11-24T10:02:30Z'); // 10:02 passes while the run is going
  assert.equal(c.calls.length, 1, 'no second run while the first is in progress');
  c.pending[0]!.resolve();
  const wake = await clock.nextSleep();
  assert.equal(wake.toISOString(), '2026-11-24T10:03:00.000Z', 'continues from now, no burst of missed runs');
  assert.equal(s.getStats().skippedTicks, 1);
  await s.stop();
  assert.equal(c.calls.length, 1);
});

test('a failed run is retried with backoff a bounded number of times; the next tick still happens', async () => {
  const clock = new FakeClock('2026-11-24T10:00:00Z');
  const hourly = parseCron('0 0 * * * *', { timeZone: 'UTC' });
  const attempts: RunContext[] = [];
  let failUntil = 10;
  const s = new Scheduler({
    schedule: hourly,
    clock,
    retry: { maxAttempts: 3, baseDelayMs: 60_000, maxDelayMs: 600_000 },
    run: async (ctx) => {
      attempts.push(ctx);
      if (attempts.length <= failUntil) throw new Error(`boom ${attempts.length}`);
    },
  });
  s.start();
  clock.advanceTo(await clock.nextSleep()); // 11:00 attempt 1 fails
  let wake = await clock.nextSleep();
  assert.equal(wake.toISOString(), '2026-11-24T11:01:00.000Z', 'first retry after the base delay');
  clock.advanceTo(wake); // attempt 2 fails
  wake = await clock.nextSleep();
  assert.equal(wake.toISOString(), '2026-11-24T11:03:00.000Z', 'second retry after twice the delay');
  clock.advanceTo(wake); // attempt 3 fails: give up
  wake = await clock.nextSleep();
  assert.equal(wake.toISOString(), '2026-11-24T12:00:00.000Z', 'after the last attempt, the next tick');
  assert.deepEqual(
    attempts.map((a) => [a.attempt, a.reason]),
    [
      [1, 'schedule'],
      [2, 'retry'],
      [3, 'retry'],
    ],
  );
  failUntil = 0;
  clock.advanceTo(wake);
  await clock.nextSleep();
  await s.stop();
  assert.equal(attempts.length, 4);
  assert.equal(s.getStats().failed, 3);
  assert.equal(s.getStats().succeeded, 1);
});

test('retries never run past the next tick', async () => {
  const clock = new FakeClock('2026-11-24T10:00:30Z');
  let calls = 0;
  const s = new Scheduler({
    schedule: EVERY_MINUTE,
    clock,
    retry: { maxAttempts: 5, baseDelayMs: 45_000 },
    run: async () => {
      calls++;
      throw new Error('down');
    },
  });
  s.start();
  clock.advanceTo(await clock.nextSleep()); // 10:01 fails, retry at 10:01:45
  let wake = await clock.nextSleep();
  assert.equal(wake.toISOString(), '2026-11-24T10:01:45.000Z');
  clock.advanceTo(wake); // fails again: next retry (90 s) would pass 10:02, so the tick takes over
  wake = await clock.nextSleep();
  assert.equal(wake.toISOString(), '2026-11-24T10:02:00.000Z');
  await s.stop();
  assert.equal(calls, 2);
});

test('a tick that comes while a manual run is going is skipped and counted, not run beside it', async () => {
  const clock = new FakeClock('2026-11-24T10:00:30Z');
  const c = controllable();
  const s = new Scheduler({ schedule: EVERY_MINUTE, clock, run: c.run });
  s.start();
  const wake = await clock.nextSleep();
  const started = c.nextStart();
  const manual = s.runNow();
  await started;
  clock.advanceTo(wake); // 10:01 comes during the manual run
  assert.equal((await clock.nextSleep()).toISOString(), '2026-11-24T10:02:00.000Z');
  assert.equal(c.calls.length, 1);
  assert.equal(s.getStats().skippedTicks, 1);
  c.pending[0]!.resolve();
  await manual;
  clock.advanceTo('2026-11-24T10:02:00Z');
  const second = c.nextStart();
  await second;
  assert.deepEqual(
    c.calls.map((x) => x.reason),
    ['manual', 'schedule'],
  );
  c.pending[1]!.resolve();
  await clock.nextSleep();
  await s.stop();
});

test('a manual run during the retry backoff is not doubled by the retry; its success ends the retries', async () => {
  const clock = new FakeClock('2026-11-24T10:00:00Z');
  const hourly = parseCron('0 0 * * * *', { timeZone: 'UTC' });
  const calls: RunContext[] = [];
  let active = 0;
  let maxActive = 0;
  let finishManual: () => void = () => undefined;
  const infos: string[] = [];
  const logger = {
    warn: () => undefined,
    info: (_o: unknown, msg: string) => void infos.push(msg),
    error: () => undefined,
  } as unknown as import('pino').Logger;
  const s = new Scheduler({
    schedule: hourly,
    clock,
    logger,
    retry: { maxAttempts: 3, baseDelayMs: 60_000 },
    run: async (ctx) => {
      calls.push(ctx);
      active++;
      maxActive = Math.max(maxActive, active);
      try {
        if (ctx.reason === 'manual') await new Promise<void>((r) => (finishManual = r));
        else throw new Error('down');
      } finally {
        active--;
      }
    },
  });
  s.start();
  clock.advanceTo(await clock.nextSleep()); // 11:00 fails
  const retryAt = await clock.nextSleep();
  assert.equal(retryAt.toISOString(), '2026-11-24T11:01:00.000Z');
  assert.equal(s.nextRunAt()?.toISOString(), '2026-11-24T11:01:00.000Z', 'nextRunAt shows the pending retry');
  const manual = s.runNow();
  clock.advanceTo(retryAt); // the retry is due while the manual run is going
  // Let the woken loop run its microtasks: it finds the manual run and waits for it. (No timer.)
  await new Promise((r) => setImmediate(r));
  assert.equal(clock.sleeping, 0);
  finishManual();
  await manual;
  assert.equal(
    (await clock.nextSleep()).toISOString(),
    '2026-11-24T12:00:00.000Z',
    'no retry after the manual run succeeded',
  );
  assert.deepEqual(
    calls.map((c) => c.reason),
    ['schedule', 'manual'],
  );
  assert.match(infos.join('\n'), /manual run succeeded during the retry backoff/);
  assert.equal(maxActive, 1);
  await s.stop();
});

test('a run function that throws synchronously fails the attempt and does not wedge the scheduler', async () => {
  const clock = new FakeClock('2026-11-24T10:00:30Z');
  let calls = 0;
  const s = new Scheduler({
    schedule: EVERY_MINUTE,
    clock,
    retry: { maxAttempts: 1 },
    run: ((): Promise<void> => {
      calls++;
      throw new Error('sync boom');
    }) as (ctx: RunContext) => Promise<void>,
  });
  await assert.rejects(s.runNow(), /sync boom/);
  assert.equal(s.isRunning, false);
  s.start();
  clock.advanceTo(await clock.nextSleep());
  assert.equal((await clock.nextSleep()).toISOString(), '2026-11-24T10:02:00.000Z');
  await s.stop();
  assert.equal(calls, 2);
  assert.equal(s.getStats().failed, 2);
  assert.equal(s.getStats().lastError, 'sync boom');
});

const afterSuspensionLate =
  'after a suspension the late tick runs once, the passed ones are counted, and the next is computed from now';
test(afterSuspensionLate, async () => {
  const clock = new FakeClock('2026-11-24T10:00:30Z');
  const fired: RunContext[] = [];
  const s = new Scheduler({ schedule: EVERY_MINUTE, clock, run: async (ctx) => void fired.push(ctx) });
  s.start();
  await clock.nextSleep();
  clock.advanceTo('2026-11-24T13:00:30Z'); // asleep for three hours
  const wake = await clock.nextSleep();
  assert.equal(wake.toISOString(), '2026-11-24T13:01:00.000Z');
  assert.equal(fired.length, 1, 'one run, not a burst of 180');
  assert.equal(fired[0]!.scheduledAt.toISOString(), '2026-11-24T10:01:00.000Z');
  assert.equal(s.getStats().skippedTicks, 179, '10:02 .. 13:00');
  await s.stop();
});

test('stop() during the retry backoff returns without another attempt; nothing runs after stop', async () => {
  const clock = new FakeClock('2026-11-24T10:00:30Z');
  let calls = 0;
  const s = new Scheduler({
    schedule: parseCron('0 0 * * * *', { timeZone: 'UTC' }),
    clock,
    run: async () => {
      calls++;
      throw new Error('down');
    },
  });
  s.start();
  clock.advanceTo(await clock.nextSleep());
  await clock.nextSleep(); // sleeping until the retry
  await s.stop();
  assert.equal(clock.sleeping, 0, 'the sleep was cancelled');
  clock.advance(86_400_000);
  assert.equal(calls, 1);
  assert.equal(s.nextRunAt(), undefined);
  await assert.rejects(s.runNow(), (err: unknown) => err instanceof LifeboatError && err.code === 'SCHEDULER_STOPPED');
  await s.stop(); // idempotent
  s.start(); // single use: no new loop
  assert.equal(clock.sleeping, 0);
});

test('a schedule with no further time stops the loop with a warning', async () => {
  const clock = new FakeClock('2026-11-24T10:00:00Z');
  const warnings: string[] = [];
  const logger = {
    warn: (_o: unknown, msg: string) => void warnings.push(msg),
    info: () => undefined,
    error: () => undefined,
  } as unknown as import('pino').Logger;
  const s = new Scheduler({
    schedule: parseCron('0 0 0 1 1 * 2026', { timeZone: 'UTC' }),
    clock,
    logger,
    run: async () => undefined,
  });
  assert.equal(s.nextRunAt(), undefined);
  s.start();
  await s.stop();
  assert.equal(clock.sleeping, 0);
  assert.match(warnings.join('\n'), /no further fire time/);
});

test('retry options are validated', () => {
  const base = { schedule: EVERY_MINUTE, run: async () => undefined };
  assert.throws(
    () => new Scheduler({ ...base, retry: { maxAttempts: 0 } }),
    (e: unknown) => e instanceof ConfigError && /retry\.maxAttempts/.test(e.message),
  );
  assert.throws(() => new Scheduler({ ...base, retry: { baseDelayMs: -1 } }), /retry\.baseDelayMs/);
  assert.throws(
    () => new Scheduler({ ...base, retry: { baseDelayMs: 10_000, maxDelayMs: 5_000 } }),
    /retry\.maxDelayMs/,
  );
});

test('stop() waits for the run in progress; runNow joins a running run', async () => {
  const clock = new FakeClock('2026-11-24T10:00:30Z');
  const c = controllable();
  const s = new Scheduler({ schedule: EVERY_MINUTE, clock, run: c.run });
  s.start();
  const started = c.nextStart();
  const manual = s.runNow();
  await started;
  assert.equal(c.calls[0]!.reason, 'manual');
  const joined = s.runNow();
  assert.equal(joined, manual, 'joins the same run');
  assert.equal(c.calls.length, 1, 'runNow while running does not start a second run');
  let stopped = false;
  const stopping = s.stop().then(() => (stopped = true));
  await Promise.resolve();
  assert.equal(stopped, false, 'stop waits for the run');
  c.pending[0]!.resolve();
  await Promise.all([manual, joined, stopping]);
  assert.equal(stopped, true);
});

test('a joined runNow sees the failure of the run it joined', async () => {
  const clock = new FakeClock('2026-11-24T10:00:30Z');
  const c = controllable();
  const s = new Scheduler({ schedule: EVERY_MINUTE, clock, run: c.run });
  const started = c.nextStart();
  const first = s.runNow();
  await started;
  const second = s.runNow();
  c.pending[0]!.reject(new Error('disk full'));
  await assert.rejects(first, /disk full/);
  await assert.rejects(second, /disk full/);
  assert.equal(s.isRunning, false);
  assert.equal(s.getStats().failed, 1);
  assert.equal(s.getStats().lastFailureAt?.toISOString(), '2026-11-24T10:00:30.000Z');
});

test('backoff is exponential and capped', () => {
  const p = { maxAttempts: 9, baseDelayMs: 30_000, maxDelayMs: 600_000 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((a) => retryDelay(p, a)),
    [30_000, 60_000, 120_000, 240_000, 480_000, 600_000],
  );
});

test('FakeClock: sleepers wake when due, abort wakes them early, time never runs backwards by accident', async () => {
  const clock = new FakeClock('2026-01-01T00:00:00Z');
  const ac = new AbortController();
  let woke = 0;
  const a = clock.sleepUntil(new Date('2026-01-01T00:00:10Z'), ac.signal).then(() => woke++);
  clock.advance(9_000);
  await Promise.resolve();
  assert.equal(woke, 0);
  clock.advance(1_000);
  await a;
  assert.equal(woke, 1);
  const b = clock.sleepUntil(new Date('2030-01-01T00:00:00Z'), ac.signal);
  ac.abort();
  await b;
  assert.throws(() => clock.advanceTo('2025-01-01T00:00:00Z'), RangeError);
  assert.throws(() => new FakeClock('not a date'), RangeError);
});

test('systemClock: a sleep resolves promptly on abort and at once for a past or invalid time', async () => {
  const ac = new AbortController();
  await systemClock.sleepUntil(new Date(Date.now() - 1000), ac.signal);
  await systemClock.sleepUntil(new Date(Number.NaN), ac.signal);
  // Far beyond setTimeout's 2^31-1 ms limit: must be chunked, and abort must end it.
  const far = systemClock.sleepUntil(new Date(Date.now() + 100 * 86_400_000), ac.signal);
  ac.abort();
  await far;
  await systemClock.sleepUntil(new Date(Date.now() + 86_400_000), ac.signal); // already aborted
});
