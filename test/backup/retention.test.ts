import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backupName } from '../../src/backup/naming.js';
import {
  decideRetention,
  distrustReason,
  FUTURE_TOLERANCE_MS,
  type Listed,
  MAX_CLOCK_OFFSET_MS,
  MODIFIED_TOLERANCE_MS,
  newestTrustworthy,
  type RetentionInput,
} from '../../src/backup/retention.js';
import { FakeClock } from '../support/fake-clock.js';

const DAY = 86_400;
const MIN_MS = 60_000;
const NOW = new FakeClock('2026-11-24T02:30:00Z').now();
const nowS = NOW.getTime() / 1000;
/** A backup made `days` before NOW by an honest clock: the store dated it a few seconds after its name. */
const made = (days: number, node = 1, at = NOW): Listed => {
  const s = Math.round(at.getTime() / 1000 - days * DAY);
  return { name: backupName(node, s), modified: new Date((s + 5) * 1000) };
};
const names = (xs: readonly Listed[]) => xs.map((x) => x.name);
const decide = (objects: readonly Listed[], over: Partial<RetentionInput['policy']> & Partial<RetentionInput> = {}) =>
  decideRetention({
    objects,
    now: over.now ?? NOW,
    policy: { keepDays: over.keepDays ?? 3, keepMin: over.keepMin ?? 0, protect: over.protect ?? [] },
    clockOffsetMs: over.clockOffsetMs,
  });

test('backups older than keepDays expire, by the timestamp in the name', () => {
  const all = [made(0), made(1), made(2.9), made(3.0001), made(10), made(400)];
  const d = decide(all);
  assert.deepEqual(d.expired, names([made(10), made(3.0001), made(400)]).sort());
  assert.equal(d.skipped, undefined);
  assert.deepEqual(d.distrusted, []);
});

test('exactly keepDays old is kept (strictly older expires)', () => {
  const edge = { name: backupName(1, nowS - 3 * DAY), modified: new Date((nowS - 3 * DAY) * 1000) };
  const past = { name: backupName(1, nowS - 3 * DAY - 1), modified: new Date((nowS - 3 * DAY) * 1000) };
  assert.deepEqual(decide([made(0), edge, past]).expired, [past.name]);
});

test('foreign files are never touched', () => {
  const foreign = ['notes.txt', 'backup_node_1_1.sqlite~', 'backup_node_1_1.db', 'hiqlite.db'].map((name) => ({
    name,
    modified: new Date(0),
  }));
  assert.deepEqual(decide([...foreign, made(0), made(2), made(50)]).expired, [made(50).name]);
});

test('keepMin keeps the newest backups whatever their age; the newest survives even with keepMin 0', () => {
  const all = [made(0), made(1), made(5), made(10), made(20), made(30)];
  assert.deepEqual(decide(all, { keepMin: 3 }).expired, names([made(10), made(20), made(30)]).sort());
  assert.deepEqual(decide(all, { keepMin: 1 }).expired, names([made(5), made(10), made(20), made(30)]).sort());
  assert.deepEqual(decide(all, { keepMin: 6 }).expired, []);
  assert.deepEqual(decide(all, { keepMin: 100 }).expired, []);
  // keepDays 0 keeps only the newest (and keepMin): daily backups are not a "clock jump".
  const daily = [made(0), made(1), made(2), made(3)];
  assert.deepEqual(decide(daily, { keepDays: 0, keepMin: 0 }).expired, names([made(1), made(2), made(3)]).sort());
  assert.deepEqual(decide(daily, { keepDays: 0, keepMin: 2 }).expired, names([made(2), made(3)]).sort());
});

test('protected names always survive, and count toward keepMin', () => {
  const all = [made(0), made(0.5), made(1), made(2)];
  assert.deepEqual(decide(all, { keepDays: 0, protect: [made(2).name] }).expired, names([made(0.5), made(1)]).sort());
  const kept2 = decide(all, { keepDays: 0, keepMin: 2, protect: [made(0).name] });
  assert.deepEqual(kept2.expired, names([made(1), made(2)]).sort());
});

test('backups of every node id count, as in Hiqlite, and ties at the newest all survive', () => {
  const all = [made(1, 1), made(1, 2), made(20, 3)];
  assert.deepEqual(decide(all).expired, [made(20, 3).name]);
  assert.deepEqual(decide([made(1, 1), made(1, 2)], { keepDays: 0 }).expired, []);
});

test('a clock far behind the backups deletes nothing', () => {
  const d = decide([made(0), made(1)], { now: new Date('2000-01-01T00:00:00Z') });
  assert.deepEqual(d.expired, []);
  // Seen from 2000 both names are in the future: distrusted, so reported.
  assert.equal(d.distrusted.length, 2);
});

test('a clock 40 days ahead deletes nothing: `now` is far past the newest earlier backup', () => {
  // As in production: backups from 1..10 days ago, then a run whose clock is 40 days ahead.
  const history = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((d) => made(d));
  const ahead = new Date(NOW.getTime() + 40 * DAY * 1000);
  const justMade = { name: backupName(1, ahead.getTime() / 1000), modified: NOW };
  for (const keepDays of [0, 1, 3, 30]) {
    const d = decide([...history, justMade], { now: ahead, keepDays, keepMin: 3, protect: [justMade.name] });
    assert.deepEqual(d.expired, [], `keepDays ${keepDays}`);
    assert.match(d.skipped ?? '', /41 d 0 h after the newest earlier backup/);
    assert.match(d.skipped ?? '', new RegExp(`more than keep_days \\(${keepDays}\\)`));
    // Its name is 40 days after the time the store gave it: it never counts as the newest.
    assert.deepEqual(names(d.distrusted), [justMade.name]);
  }
});

test('a clock that disagrees with the S3 server by more than 10 min skips time-based retention', () => {
  const all = [made(0), made(1), made(10), made(20)];
  for (const offset of [MAX_CLOCK_OFFSET_MS + 1, -(MAX_CLOCK_OFFSET_MS + 1), -40 * DAY * 1000]) {
    const d = decide(all, { clockOffsetMs: offset });
    assert.deepEqual(d.expired, []);
    assert.match(d.skipped ?? '', offset < 0 ? /ahead of the S3 server's/ : /behind the S3 server's/);
  }
  assert.match(decide(all, { clockOffsetMs: -40 * DAY * 1000 }).skipped ?? '', /40 d 0 h ahead/);
  for (const offset of [0, MAX_CLOCK_OFFSET_MS, -MAX_CLOCK_OFFSET_MS, 1500]) {
    const d = decide(all, { clockOffsetMs: offset });
    assert.equal(d.skipped, undefined);
    assert.deepEqual(d.expired, names([made(10), made(20)]).sort());
  }
});

test('a long outage costs nothing: the first run after it skips, the next one resumes', () => {
  const before = [made(41), made(42), made(43), made(44), made(45)];
  // The first run after 40 days without backups.
  const first = made(0);
  const d1 = decide([...before, first], { keepDays: 3, keepMin: 3, protect: [first.name] });
  assert.deepEqual(d1.expired, []);
  assert.match(d1.skipped ?? '', /the next run resumes/);
  // A day later the newest earlier backup is the one the first run made: retention resumes,
  // keepMin keeping three.
  const tomorrow = new Date(NOW.getTime() + DAY * 1000);
  const second = made(0, 1, tomorrow);
  const d2 = decide([...before, first, second], { now: tomorrow, keepDays: 3, keepMin: 3, protect: [second.name] });
  assert.equal(d2.skipped, undefined);
  assert.deepEqual(d2.expired, names([made(42), made(43), made(44), made(45)]).sort());
});

test('schedule jitter is not a clock jump: a daily backup a little over a day old keeps retention on', () => {
  const yesterday = { name: backupName(1, nowS - DAY - 30), modified: new Date((nowS - DAY) * 1000) };
  const all = [made(0), yesterday, made(5)];
  for (const keepDays of [0, 1]) {
    const d = decide(all, { keepDays, protect: [made(0).name] });
    assert.equal(d.skipped, undefined, `keepDays ${keepDays}`);
    assert.ok(d.expired.includes(made(5).name));
  }
  // Two days without a backup with keepDays 1: everything would expire, so this run skips.
  assert.match(decide([made(0), made(2.1)], { keepDays: 1, protect: [made(0).name] }).skipped ?? '', /keep_days \(1\)/);
});

test('a backup named in the future is reported, never the newest, never deleted', () => {
  const future = made(-30); // named 30 days after NOW
  const soon = made(-FUTURE_TOLERANCE_MS / 2 / 1000 / DAY); // 5 min ahead: clocks that differ a little
  const all = [future, soon, made(1), made(4), made(10)];
  const d = decide(all, { keepMin: 1 });
  assert.deepEqual(names(d.distrusted), [future.name]);
  assert.match(d.distrusted[0]!.reason, /30 d 0 h after this machine's clock/);
  // The newest trustworthy backup is `soon`; keepMin 1 keeps only it, age expires the rest.
  assert.deepEqual(d.expired, names([made(4), made(10)]).sort());
  // With only the future one and old backups, the old ones are judged by the newest *trusted* one.
  const alone = decide([future, made(1), made(20)], { keepMin: 1 });
  assert.deepEqual(alone.expired, [made(20).name]);
  assert.equal(distrustReason(soon, NOW), undefined);
});

test('a name later than the time the store wrote it is distrusted; a copy made later is not', () => {
  const s = nowS - 2 * DAY;
  const aheadWhenMade = { name: backupName(1, s), modified: new Date(s * 1000 - MODIFIED_TOLERANCE_MS - 1000) };
  const slightly = { name: backupName(2, s), modified: new Date(s * 1000 - MODIFIED_TOLERANCE_MS + 1000) };
  const copiedLater = { name: backupName(1, nowS - 20 * DAY), modified: NOW }; // e.g. a bucket migration
  const noTime = { name: backupName(3, nowS - 30 * DAY) };
  assert.match(distrustReason(aheadWhenMade, NOW) ?? '', /written at .*, 1 h 0 min earlier/);
  assert.equal(distrustReason(slightly, NOW), undefined);
  assert.equal(distrustReason(copiedLater, NOW), undefined);
  assert.equal(distrustReason(noTime, NOW), undefined);
  const d = decide([made(0), aheadWhenMade, slightly, copiedLater, noTime]);
  assert.deepEqual(names(d.distrusted), [aheadWhenMade.name]);
  assert.deepEqual(d.expired, [copiedLater.name, noTime.name].sort());
  // Distrusted even when ancient: its true age is unknown, so it is kept (and reported every run).
  const ancient = { name: backupName(1, nowS - 400 * DAY), modified: new Date((nowS - 500 * DAY) * 1000) };
  assert.deepEqual(decide([made(0), made(1), ancient]).expired, []);
});

test('invalid keepDays or keepMin is a programming error', () => {
  for (const bad of [-1, 1.5, Number.NaN]) {
    assert.throws(() => decide([], { keepDays: bad }), RangeError);
    assert.throws(() => decide([], { keepMin: bad }), RangeError);
  }
});

test('exhaustive: for every subset of a pool, every policy, offset and clock, the decision obeys the rules', () => {
  const foreign: Listed = { name: 'x.txt', modified: NOW };
  const future = made(-20);
  const aheadWhenMade: Listed = { name: backupName(4, nowS - 6 * DAY), modified: new Date((nowS - 8 * DAY) * 1000) };
  const pool: Listed[] = [made(0), made(2), made(4), made(6, 2), made(50), foreign, future, aheadWhenMade];
  const protectable = made(0).name;
  const nows = [NOW, new Date(NOW.getTime() + 40 * DAY * 1000), new Date(NOW.getTime() + 5 * DAY * 1000)];
  const offsets = [undefined, 9 * MIN_MS, -11 * MIN_MS, 11 * MIN_MS];
  const ts = (n: string) => Number(n.split('_')[3]!.split('.')[0]) * 1000;
  let cases = 0;
  for (let mask = 0; mask < 1 << pool.length; mask++) {
    const objects = pool.filter((_, i) => mask & (1 << i));
    for (const now of nows)
      for (const keepDays of [0, 1, 3, 30])
        for (const keepMin of [0, 1, 3])
          for (const clockOffsetMs of offsets)
            for (const protect of [[], [protectable]]) {
              cases++;
              const d = decideRetention({ objects, now, policy: { keepDays, keepMin, protect }, clockOffsetMs });
              // The message is built only on failure: tens of thousands of cases stay fast.
              const check = (ok: boolean, rule: string) => {
                if (!ok) {
                  const at = `now=${now.toISOString()} keep=${keepDays}/${keepMin} offset=${clockOffsetMs}`;
                  assert.fail(`${rule}: ${names(objects).join(',')} ${at} protect=${protect} → ${JSON.stringify(d)}`);
                }
              };
              const expired = new Set(d.expired);
              const distrusted = new Set(names(d.distrusted));
              const backups = objects.filter((o) => o.name.startsWith('backup_node_'));
              const trusted = backups.filter((o) => !distrusted.has(o.name));
              for (const o of backups)
                check(distrusted.has(o.name) === (distrustReason(o, now) !== undefined), 'trust');
              // Never deleted: foreign names, protected names, distrusted backups, young backups.
              for (const n of expired) {
                check(n.startsWith('backup_node_'), 'foreign expired');
                check(!protect.includes(n), 'protected expired');
                check(!distrusted.has(n), 'distrusted expired');
                check(ts(n) < now.getTime() - keepDays * DAY * 1000, 'young expired');
              }
              // A clock the S3 server contradicts deletes nothing, and says so.
              if (clockOffsetMs !== undefined && Math.abs(clockOffsetMs) > MAX_CLOCK_OFFSET_MS) {
                check(expired.size === 0 && /S3 server's/.test(d.skipped ?? ''), 'skew');
              }
              // Skipped means nothing deleted; a run that deletes has a trusted earlier backup
              // no further than max(keepDays, 1) days + 1 h before now.
              if (d.skipped !== undefined) check(expired.size === 0, 'skipped but deleted');
              if (expired.size > 0) {
                const earlier = trusted.filter((o) => !protect.includes(o.name)).map((o) => ts(o.name));
                const gap = now.getTime() - Math.max(...earlier);
                check(gap <= (Math.max(keepDays, 1) * DAY + 3600) * 1000, 'deleted after a clock jump');
              }
              // The newest trusted backup and at least keepMin trusted ones survive.
              const survivors = trusted.filter((o) => !expired.has(o.name));
              check(survivors.length >= Math.min(trusted.length, Math.max(keepMin, 1)), 'keepMin');
              const newest = Math.max(...trusted.map((o) => ts(o.name)));
              for (const o of trusted) if (ts(o.name) === newest) check(!expired.has(o.name), 'newest expired');
            }
  }
  assert.ok(cases > 10_000, `${cases} cases`);
});

test('newestTrustworthy: s3:latest passes over names a wrong clock made, and says why', () => {
  const future = made(-40);
  const ahead: Listed = { name: backupName(1, nowS - DAY), modified: new Date((nowS - 3 * DAY) * 1000) };
  const good = made(2);
  const foreign: Listed = { name: 'backup_node_1_9999999999.sqlite.tmp', modified: NOW };
  const r = newestTrustworthy([good, foreign, future, ahead, made(5)], NOW);
  assert.equal(r.pick?.name, good.name);
  assert.deepEqual(names(r.skipped), [future.name, ahead.name]);
  assert.match(r.skipped[0]!.reason, /after this machine's clock/);
  assert.equal(r.pickDistrusted, undefined);
  // Nothing trustworthy: the newest by name is still the pick (a restore must have one), with the reason.
  const only = newestTrustworthy([ahead, future], NOW);
  assert.equal(only.pick?.name, future.name);
  assert.deepEqual(names(only.skipped), [ahead.name]);
  assert.match(only.pickDistrusted ?? '', /40 d 0 h after/);
  assert.deepEqual(newestTrustworthy([foreign], NOW), { pick: undefined, skipped: [], pickDistrusted: undefined });
  // The same as before for honest clocks: newest by name, ties by node id.
  assert.equal(newestTrustworthy([made(1, 2), made(1, 1), made(3)], NOW).pick?.name, made(1, 1).name);
  // Judged by the clock given: once real time passes its name, a backup is no longer "future".
  const later = new FakeClock(NOW);
  later.advance(41 * DAY * 1000);
  assert.equal(newestTrustworthy([good, future], later.now()).pick?.name, future.name);
});
