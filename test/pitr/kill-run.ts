import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Config } from '../../src/config/types.js';
import { LifeboatError } from '../../src/errors.js';
import { TEMP_PREFIX } from '../../src/fs/durable.js';
import { FAULT_POINTS, type FaultPoint } from '../../src/pitr/fault.js';
import { dbPrefix, newDbId, parsePitrName } from '../../src/pitr/names.js';
import { restorePitr } from '../../src/pitr/restore/apply.js';
import type { PitrTarget } from '../../src/pitr/restore/plan.js';
import { type Fault, FaultProxy } from '../support/fault-proxy.js';
import { openConditionalStore } from '../support/s3-checks.js';
import { KEY_A, keySet, rng } from './fixtures.js';
import { modelAfter, rowsOf, spawnScript, startWriter } from './model.js';

/**
 * One run of the continuous-backup proof (issue #17, item 6), against a real S3 server: an
 * application process commits the whole time while a chaos controller kills with SIGKILL, at
 * random moments, Lifeboat's capture (its own process), the application, or both at once, and
 * starts them again; or the S3 server goes down for capture (a fault proxy in front of it: errors,
 * resets, answers lost after the write, a hung server) while the application must go on committing,
 * and capture must catch up by itself once it is back. Then restores — `latest`, random
 * transaction ids in every generation, random times, each killed generation's newest
 * transaction — must each hold exactly the rows the
 * application had after one of its commits (nothing missing, nothing invented, integrity ok);
 * transaction ids map to commits one to one; a time target restores the last transaction
 * observed at or before it and not the next; everything a capture acknowledged before its kill,
 * and every commit that returned more than two sync intervals before a kill (counted, for commits
 * made before it, from when capture caught up with the backlog of its start), is restorable;
 * `latest` after the final flush is the application's last commit. A failed check throws,
 * naming the seed. The CI test runs one; `npm run soak:pitr` runs a thousand.
 */

export interface KillRunOptions {
  readonly s3: S3Config;
  readonly dir: string;
  readonly seed: number;
  /** Kills in the run (default 1–3, chosen by the seed). */
  readonly kills?: number;
  /** Capture's sync interval (default 250 ms). */
  readonly syncIntervalMs?: number;
  /** Who may be killed, or `outage` (default all six kinds, capture twice as often). */
  readonly victims?: readonly Victim[];
  /**
   * Capture's rebaseRatio (default by the seed: even seeds 0.02, so bases inside the generation are
   * taken, and killed, while the application commits; odd seeds 1000, none).
   */
  readonly rebaseRatio?: number;
  /**
   * The application's wal_autocheckpoint and capture's checkpointPages (default by the seed: a multiple
   * of 3 takes SQLite's 1000 for both, so the WAL may still hold the chain's end when capture comes back
   * (§3.9 case A); others 40 and 100, checkpoints and restarts every few commits, meeting every kill).
   */
  readonly checkpointFrames?: { readonly app: number; readonly capture: number };
  /** Delete the run's objects once it passed (a soak keeps the server's memory flat; a failed run's stay). */
  readonly cleanUp?: boolean;
}

export interface KillRunReport {
  readonly seed: number;
  readonly kills: { capture: number; app: number; both: number; restart: number; outage: number; fault: number };
  /** Capture's deaths at each named fault point (src/pitr/fault.ts). */
  readonly faults: Readonly<Partial<Record<FaultPoint, number>>>;
  /** Base images and temp files those deaths left in capture's work folder, each removed by the next start. */
  readonly leftBehind: number;
  /** Commits the application made while the S3 server was down for capture. */
  readonly outageCommits: number;
  readonly generations: number;
  /** Capture starts that went on with the generation before them (spec §3.9). */
  readonly resumes: number;
  /** …of which after capture was killed (the WAL still held the chain's end: §3.9 case A, or nothing was committed). */
  readonly resumesAfterKill: number;
  /** Bases in the bucket beyond each generation's first: re-bases inside a generation. */
  readonly rebases: number;
  readonly commits: number;
  readonly restores: number;
  /** Commits checked against a kill's recovery-point bound (returned ≥ 2 intervals before it). */
  readonly rpoChecked: number;
  /** Capture kills that came before it caught up with its start's backlog (no commit owed yet). */
  readonly killsBeforeCatchUp: number;
  readonly ms: number;
}

/**
 * `restart`: no kill — the application stops, capture flushes and exits, both start again (capture resumes).
 * `outage`: no kill — capture's S3 fails in one of OUTAGES' ways while the application makes 200–800 commits.
 * `fault`: capture dies by SIGKILL at a named fault point (src/pitr/fault.ts), the next time it passes it.
 */
export type Victim = 'capture' | 'app' | 'both' | 'restart' | 'outage' | 'fault';

export const VICTIMS: readonly Victim[] = ['capture', 'capture', 'app', 'both', 'restart', 'outage', 'fault'];

/**
 * How the server fails for capture in an outage: S3's own error, connections reset as the request
 * arrives, requests applied but every answer lost (each retry meets its own write), and a hung
 * server (open connections freeze, new ones get no answer: the S3 timeout must end each request).
 */
const OUTAGES: readonly { readonly name: string; readonly fault: Fault; readonly hang?: true }[] = [
  { name: '503 SlowDown', fault: { kind: 'status', status: 503, code: 'SlowDown', times: Infinity } },
  { name: 'connections reset', fault: { kind: 'reset', afterBytes: 0, times: Infinity } },
  { name: 'answers lost', fault: { kind: 'cut', afterBytes: 0, times: Infinity } },
  { name: 'hung server', fault: { kind: 'stall' }, hang: true },
];

/** Capture's S3 timeout in runs with outages: a hung request ends within it (the default, 30 s, would only be slow). */
const OUTAGE_S3_TIMEOUT_MS = 4000;
/** Capture's lease in runs with outages: renewed every second or so, so renewals meet the outages. */
const OUTAGE_LEASE_MS = 2000;

export async function killRun(options: KillRunOptions): Promise<KillRunReport> {
  const started = Date.now();
  const { dir, seed } = options;
  const intervalMs = options.syncIntervalMs ?? 250;
  // xorshift's first draws from small seeds are tiny: spread the seed, drop a few.
  const random = rng(Math.imul(seed, 0x9e3779b1) ^ 0x5bd1e995);
  for (let i = 0; i < 4; i++) random();
  const pick = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const dbPath = join(dir, 'app.sqlite');
  const store = openConditionalStore(options.s3);
  const dbId = newDbId();
  const victims = options.victims ?? VICTIMS;
  const proxy = victims.includes('outage') ? await FaultProxy.start(options.s3.url) : undefined;
  const checkpoints =
    options.checkpointFrames ?? (seed % 3 === 0 ? { app: 1000, capture: 1000 } : { app: 40, capture: 100 });
  const rebaseRatio = options.rebaseRatio ?? (seed % 2 === 0 ? 0.02 : 1000);
  const setup = JSON.stringify({
    checkpointPages: checkpoints.capture,
    s3: proxy ? { ...options.s3, url: proxy.url } : options.s3,
    ...(proxy ? { s3TimeoutMs: OUTAGE_S3_TIMEOUT_MS, leaseMs: OUTAGE_LEASE_MS } : {}),
    dbId,
    key: { id: KEY_A.id, key: KEY_A.key.toString('base64') },
    syncIntervalMs: intervalMs,
    // The application writes ~7 MB/s of WAL: 128 KiB segments, one PUT at a time, would not keep up.
    segmentMax: 1024 * 1024,
    rebaseRatio,
  });
  const at = `seed ${seed}`;
  /** Bases inside a generation refused as diverged: nothing damages the file here, so each is a capture bug. */
  const diverged: string[] = [];

  /** Every commit the application reported, in order: k and when it returned. */
  const commits: { k: number; ms: number }[] = [];
  const startApp = (fresh: boolean) => startAppAt(dbPath, commits, fresh, checkpoints.app);
  let app = await startApp(true);
  let capture = await startCapture(dir, setup, diverged);
  /** The generation each capture start shipped into. */
  const starts = [capture.genId];
  const killed: { genId: string; ms: number; acknowledged: number; caughtUpMs: number | undefined }[] = [];
  const kills = { capture: 0, app: 0, both: 0, restart: 0, outage: 0, fault: 0 };
  const faults: Partial<Record<FaultPoint, number>> = {};
  // A base inside the generation is copied only where the run asks for bases.
  const points = FAULT_POINTS.filter((p) => p !== 'during-rebase' || rebaseRatio < 1);
  let outageCommits = 0;
  /** Files capture left in its work folder when it died at a fault point (removed by the next start). */
  let leftBehind = 0;
  let resumesAfterKill = 0;
  try {
    const events = options.kills ?? pick(1, 3);
    for (let e = 0; e < events; e++) {
      const victim = victims[pick(0, victims.length - 1)]!;
      kills[victim]++;
      if (victim === 'outage' && proxy) {
        await capture.shippedAtLeast(pick(1, 6));
        // In turn from the seed's: a run with four outages meets every kind.
        const { name, fault, hang } = OUTAGES[(seed + kills.outage) % OUTAGES.length]!;
        const from = commits.at(-1)?.k ?? 0;
        if (hang) proxy.hang(fault);
        else {
          proxy.set(fault);
          proxy.resetOpen(); // S3 goes down for the connections capture keeps alive too
        }
        await within(
          app.commitsPast(from + pick(200, 800)),
          30_000,
          `${at}: the application did not go on committing while S3 was down (${name})`,
        );
        const injected = proxy.injected;
        proxy.set({ kind: 'none' });
        outageCommits += (commits.at(-1)?.k ?? 0) - from;
        if (!hang) assert.ok(injected > 0, `${at}: capture met the outage (${name})`);
        await within(
          capture.caughtUpAgain(),
          60_000,
          `${at}: capture did not catch up within 60 s once S3 was back (${name})`,
        );
        continue;
      }
      if (victim === 'fault') {
        // In turn from the seed's: a run with as many fault kills as points meets every one.
        const point = points[(seed + kills.fault) % points.length]!;
        // Once capture caught up with its start's backlog, and the application went on for a second or two
        // (segments come faster than the interval under this load), so that commits are owed at the death.
        await capture.shippedAfterCatchUp(1);
        await app.commitsPast((commits.at(-1)?.k ?? 0) + pick(1000, 3000));
        const ms = Date.now(); // before the death: commits owed are counted from here
        const acknowledgedBefore = capture.acknowledged;
        await within(capture.dieAt(point), 30_000, `${at}: capture did not reach fault point ${point} within 30 s`);
        faults[point] = (faults[point] ?? 0) + 1;
        killed.push({ genId: capture.genId, ms, acknowledged: capture.acknowledged, caughtUpMs: capture.caughtUpMs });
        assert.ok(capture.acknowledged >= acknowledgedBefore);
        // What the dead capture left in its work folder (a base image, a state.json not renamed): gone after a start.
        const left = leftovers(join(dir, 'pitr'));
        const before = capture.genId;
        capture = await startCapture(dir, setup, diverged);
        starts.push(capture.genId);
        if (capture.genId === before) resumesAfterKill++;
        const still = leftovers(join(dir, 'pitr')).filter((name) => left.includes(name));
        assert.deepEqual(still, [], `${at}: the files capture left when it died at ${point} are gone after its start`);
        leftBehind += left.length;
        continue;
      }
      if (victim === 'restart') {
        // A clean restart with nothing committed in between: the next capture goes on with the same
        // generation (no base, no gap), into a WAL the application's next start makes afresh.
        await app.commitsPast((commits.at(-1)?.k ?? 0) + pick(20, 600));
        await app.stop();
        await exited(app.child);
        const before = capture.genId;
        await capture.flushAndExit();
        capture = await startCapture(dir, setup, diverged);
        starts.push(capture.genId);
        assert.equal(capture.genId, before, `${at}: a clean restart goes on with generation ${before}`);
        app = await startApp(false);
        continue;
      }
      // Half the kills come early (mid-catch-up after a start), half after a few seconds of steady shipping.
      const early = random() < 0.5;
      if (victim === 'app') await app.commitsPast((commits.at(-1)?.k ?? 0) + (early ? pick(20, 300) : pick(500, 1000)));
      else await capture.shippedAtLeast(early ? pick(1, 4) : pick(5, 10));
      const ms = Date.now();
      const down = await Promise.all([
        victim !== 'capture' ? app.kill() : undefined,
        victim !== 'app' ? capture.kill() : undefined,
      ]);
      if (victim !== 'app')
        killed.push({ genId: capture.genId, ms, acknowledged: capture.acknowledged, caughtUpMs: capture.caughtUpMs });
      // Start again in a random order: capture may find the application's crash not yet recovered.
      const restartApp = async () => {
        if (down[0] !== undefined) app = await startApp(false);
      };
      const restartCapture = async () => {
        if (down[1] === undefined) return;
        const before = capture.genId;
        capture = await startCapture(dir, setup, diverged);
        starts.push(capture.genId);
        if (capture.genId === before) resumesAfterKill++;
      };
      if (random() < 0.5) await restartApp().then(restartCapture);
      else await restartCapture().then(restartApp);
    }
    const lastCommit = await app.stop();
    const flushed = await capture.flushAndExit();

    const keys = keySet(KEY_A);
    let n = 0;
    const byTxid = new Map<number, { txid: number; observedMs: number; k: number }>();
    const restore = async (target: PitrTarget, what: string) => {
      const done = target.kind === 'txid' ? byTxid.get(target.txid) : undefined;
      if (done) return done;
      const path = join(dir, `r${n++}.sqlite`);
      const got = await restorePitr({ store, keys, dbId, target, path });
      const rows = rowsOf(path);
      assert.deepEqual(rows, modelAfter(rows.last), `${at}, ${what}: exactly the rows of commit ${rows.last}`);
      rmSync(path);
      const result = { txid: got.txid, observedMs: got.observedMs, k: rows.last };
      byTxid.set(got.txid, result);
      return result;
    };

    assert.deepEqual(diverged, [], `${at}: a base inside the generation was refused as diverged`);
    const latest = await restore({ kind: 'latest' }, 'latest');
    assert.equal(latest.txid, flushed, `${at}: latest is the flushed txid`);
    assert.equal(latest.k, lastCommit, `${at}: latest after flush is the application's last commit`);

    const generations = new Map<string, { base: number; last: number; bases: number[] }>();
    let bases = 0;
    for (const o of await store.list(dbPrefix(dbId))) {
      const name = parsePitrName(o.key);
      if (name?.kind !== 'base' && name?.kind !== 'segment') continue;
      const g = generations.get(name.genId) ?? { base: Infinity, last: 0, bases: [] };
      if (name.kind === 'base') {
        bases++;
        g.bases.push(name.txid);
      }
      if (name.kind === 'base') g.base = Math.min(g.base, name.txid);
      else g.last = Math.max(g.last, name.lastTxid);
      generations.set(name.genId, g);
    }
    const resumes = starts.filter((g, i) => i > 0 && g === starts[i - 1]).length;
    assert.equal(
      generations.size,
      starts.length - resumes,
      `${at}: a generation per capture start that did not resume`,
    );

    let rpoChecked = 0;
    for (const kill of killed) {
      const g = generations.get(kill.genId);
      assert.ok(g, `${at}: killed generation ${kill.genId} is in the bucket`);
      const last = Math.max(g.base, g.last);
      assert.ok(kill.acknowledged <= last, `${at}: acknowledged txid ${kill.acknowledged} is in the bucket`);
      if (kill.acknowledged > g.base) {
        const ack = await restore({ kind: 'txid', txid: kill.acknowledged }, `acknowledged ${kill.acknowledged}`);
        assert.equal(ack.txid, kill.acknowledged);
      }
      const newest = await restore({ kind: 'txid', txid: last }, `generation ${kill.genId}'s newest`);
      // Capture owes a commit from the later of its return and the moment capture caught up with the
      // backlog of its start (the commits made while its base was taken); a kill before that checks none.
      const caughtUp = kill.caughtUpMs ?? Number.POSITIVE_INFINITY;
      const due = commits.filter((c) => Math.max(c.ms, caughtUp) < kill.ms - 2 * intervalMs);
      rpoChecked += due.length;
      const owed = due.at(-1)?.k ?? 0;
      assert.ok(
        newest.k >= owed,
        `${at}: commit ${owed} returned ${kill.ms - (due.at(-1)?.ms ?? 0)} ms before capture's kill but the killed ` +
          `generation (txids ${g.base}…${last}, acknowledged ${kill.acknowledged}) ends at commit ${newest.k}`,
      );
    }

    for (const [genId, { base, last, bases: inside }] of generations) {
      const first = await restore({ kind: 'txid', txid: base }, `generation ${genId}'s base`);
      // Each base inside the generation: the restore of its txid (the base alone) and of the one after it.
      for (const txid of inside.filter((t) => t > base).flatMap((t) => [t, t + 1])) {
        if (txid > last) continue;
        const got = await restore({ kind: 'txid', txid }, `txid ${txid} (a base inside the generation)`);
        assert.equal(got.k - first.k, txid - base, `${at}: txid ${txid}: one txid per commit after the base`);
      }
      if (last <= base) continue;
      for (let i = 0; i < 2; i++) {
        const txid = pick(base + 1, last);
        const got = await restore({ kind: 'txid', txid }, `txid ${txid}`);
        assert.equal(got.k - first.k, txid - base, `${at}: txid ${txid}: one txid per commit after the base`);
      }
      const end = await restore({ kind: 'txid', txid: last }, `txid ${last}`);
      const t = first.observedMs + Math.floor(random() * (end.observedMs - first.observedMs + 1));
      const byTime = await restoreAtTime(restore, t);
      if (byTime) {
        assert.ok(byTime.observedMs <= t, `${at}: time ${t} restored txid ${byTime.txid} observed after it`);
        assert.equal(byTime.k - first.k, byTime.txid - base, `${at}: time ${t}: the commit of its txid`);
        if (byTime.txid < last) {
          const next = await restore({ kind: 'txid', txid: byTime.txid + 1 }, `txid ${byTime.txid + 1}`);
          assert.ok(next.observedMs > t, `${at}: time ${t}: txid ${byTime.txid + 1} was observed by then too`);
        }
      }
    }
    if (options.cleanUp) await store.deleteMany((await store.list(dbPrefix(dbId))).map((o) => o.key));
    return {
      seed,
      kills,
      faults,
      leftBehind,
      outageCommits,
      generations: generations.size,
      resumes,
      resumesAfterKill,
      rebases: bases - generations.size,
      commits: lastCommit,
      restores: n,
      rpoChecked,
      killsBeforeCatchUp: killed.filter((k) => k.caughtUpMs === undefined).length,
      ms: Date.now() - started,
    };
  } finally {
    app.child.kill('SIGKILL');
    capture.child.kill('SIGKILL');
    store.close();
    await proxy?.close();
  }
}

/** Base images and temp files in capture's work folder (state.json itself is not one). */
function leftovers(workDir: string): string[] {
  return readdirSync(workDir).filter((name) => name.startsWith(TEMP_PREFIX) || /^base-.*\.sqlite$/.test(name));
}

/** `work`, or a failure naming `what` after `ms` (a bound on a wait, not a pause). */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A time target, or nothing when the time lands just before a transaction captured late (refused by design). */
async function restoreAtTime<T>(
  restore: (target: PitrTarget, what: string) => Promise<T>,
  ms: number,
): Promise<T | undefined> {
  try {
    return await restore({ kind: 'time', ms }, `time ${new Date(ms).toISOString()}`);
  } catch (err) {
    if (err instanceof LifeboatError && err.code === 'PITR_TARGET_UNRESTORABLE') return undefined;
    throw err;
  }
}

interface App {
  readonly child: ChildProcess;
  /** Resolves once the application has reported commit k. */
  commitsPast(k: number): Promise<void>;
  kill(): Promise<true>;
  /** Stops committing; its last k. */
  stop(): Promise<number>;
}

async function startAppAt(
  dbPath: string,
  commits: { k: number; ms: number }[],
  fresh: boolean,
  checkpointFrames: number,
): Promise<App> {
  const proc = startWriter(dbPath, Number.MAX_SAFE_INTEGER, fresh ? 100 : 0, 8, true, checkpointFrames);
  assert.equal(await proc.line(), 'ready');
  proc.send('go');
  let done: ((k: number) => void) | undefined;
  const waiters: { k: number; wake: () => void }[] = [];
  const pump = (async () => {
    for (;;) {
      const line = await proc.line().catch(() => undefined);
      if (line === undefined) return;
      const m = /^at (\d+) (\d+)$/.exec(line);
      if (m) {
        commits.push({ k: Number(m[1]), ms: Number(m[2]) });
        for (const w of waiters.filter((w) => w.k <= Number(m[1]))) w.wake();
      } else if (line.startsWith('done ')) done?.(Number(line.slice(5)));
    }
  })();
  return {
    child: proc.child,
    commitsPast: (k) =>
      (commits.at(-1)?.k ?? 0) >= k ? Promise.resolve() : new Promise((wake) => waiters.push({ k, wake })),
    kill: async () => {
      proc.child.kill('SIGKILL');
      await exited(proc.child);
      await pump;
      return true;
    },
    stop: async () => {
      const k = new Promise<number>((resolve) => {
        done = resolve;
      });
      proc.send('stop');
      return k;
    },
  };
}

interface CaptureProcess {
  readonly child: ChildProcess;
  readonly genId: string;
  /** When it reported `caught-up`. */
  readonly caughtUpMs: number | undefined;
  /** The newest txid the bucket acknowledged to it. */
  readonly acknowledged: number;
  shippedAtLeast(segments: number): Promise<void>;
  /** Resolves once `segments` more were acknowledged after its (first) `caught-up`. */
  shippedAfterCatchUp(segments: number): Promise<void>;
  /** Resolves at its next `caught-up` (asked for with `watch`), which becomes `caughtUpMs`. */
  caughtUpAgain(): Promise<void>;
  kill(): Promise<true>;
  /** Arms a fault point (src/pitr/fault.ts) and resolves once capture died there. */
  dieAt(point: FaultPoint): Promise<void>;
  flushAndExit(): Promise<number>;
}

async function startCapture(dir: string, setup: string, diverged: string[]): Promise<CaptureProcess> {
  const proc = spawnScript('capture-child.ts', [join(dir, 'app.sqlite'), join(dir, 'pitr'), setup]);
  const first = await proc.line();
  const m = /^started ([0-9a-f]{32}) (\d+)$/.exec(first);
  assert.ok(m, `capture started: ${first}`);
  let acknowledged = Number(m[2]);
  let shipped = 0;
  let caughtUpMs: number | undefined;
  let shippedAtCatchUp = 0;
  const catchUps: (() => void)[] = [];
  let flushed: ((txid: number) => void) | undefined;
  let caughtUpWaiter: (() => void) | undefined;
  const waiters: { n: number; wake: () => void }[] = [];
  const shippedAtLeast = (n: number) =>
    shipped >= n ? Promise.resolve() : new Promise<void>((wake) => waiters.push({ n, wake }));
  const pump = (async () => {
    for (;;) {
      const line = await proc.line().catch(() => undefined);
      if (line === undefined) return;
      const s = /^shipped (\d+)$/.exec(line);
      if (s) {
        acknowledged = Number(s[1]);
        shipped++;
        for (const w of waiters.filter((w) => w.n <= shipped)) w.wake();
      } else if (line === 'caught-up') {
        caughtUpMs = Date.now();
        shippedAtCatchUp = shipped;
        for (const wake of catchUps.splice(0)) wake();
        caughtUpWaiter?.();
        caughtUpWaiter = undefined;
      } else if (line.startsWith('flushed ')) flushed?.(Number(line.slice(8)));
      else if (line.startsWith('diverged ')) diverged.push(line.slice(9));
    }
  })();
  return {
    child: proc.child,
    genId: m[1]!,
    get caughtUpMs() {
      return caughtUpMs;
    },
    get acknowledged() {
      return acknowledged;
    },
    shippedAtLeast,
    shippedAfterCatchUp: async (n) => {
      if (caughtUpMs === undefined) await new Promise<void>((wake) => catchUps.push(wake));
      await shippedAtLeast(shippedAtCatchUp + n);
    },
    caughtUpAgain: () => {
      const next = new Promise<void>((wake) => {
        caughtUpWaiter = wake;
      });
      proc.send('watch');
      return next;
    },
    kill: async () => {
      proc.child.kill('SIGKILL');
      await exited(proc.child);
      await pump;
      return true;
    },
    dieAt: async (point) => {
      const gone = once(proc.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      proc.send(`fault ${point}`);
      const [, signal] = await gone;
      assert.equal(signal, 'SIGKILL', `capture died at ${point} by its own SIGKILL`);
      await pump;
    },
    flushAndExit: async () => {
      const txid = new Promise<number>((resolve) => {
        flushed = resolve;
      });
      proc.send('flush');
      const got = await txid;
      await exited(proc.child);
      return got;
    },
  };
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}
