// Part 7 of bench/run.ts: continuous backup (issue #17) against the bench's radosgw, next to the
// targets of the continuous-backup spec (§4) and the issue.
//
// One paced writer process (bench/writer.ts, `hold` mode) commits to a copy of the bench's
// database for two windows of the same length: first with continuous backup off (a process of
// the same code and modules runs beside it, idle), then with capture running in its own process
// (bench/pitr-child.ts) at a 1 s sync interval. The writer is paused while capture starts, so
// its n-th commit after that is transaction base + n: each commit's return time (writer's
// clock) is joined with the acknowledgement of the first segment that covers its txid
// (capture's clock; both are the system clock). After a flush, the capture process stays idle
// for a while and its store calls are counted. Then the point-in-time restores, each in a
// process of its own: to the base's txid (the base alone) and to the latest transaction.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CaptureStatus } from '../src/pitr/capture/capture.js';
import { newDbId } from '../src/pitr/names.js';
import type { PitrTarget } from '../src/pitr/restore/plan.js';
import type { ChildRuntime } from './lib/build.js';
import type { BenchS3 } from './lib/s3server.js';
import { type Cell, fmt, MiB, mb, measureCommand, median, percentile, ratio, sleep, table } from './lib/util.js';
import type { PitrChildRequest, PitrRestoreReply, Shipped } from './pitr-child.js';

const nowMs = () => performance.timeOrigin + performance.now();
const WRITER = fileURLToPath(new URL('./writer.ts', import.meta.url));
const TIME_FORMAT = 'LIFEBOAT_BENCH_TIME maxrss_kb=%M user=%U sys=%S';
const SYNC_INTERVAL_MS = 1000;
const TARGET_RPO_P99_MS = 2000;
const TARGET_RPO_P50_MS = 1200;
const TARGET_WRITER_P99_RATIO = 1.5;
const TARGET_RSS_MB = 150;
const TARGET_RESTORE_RATIO = 1.5;
/** Spec §4 at a 1 s interval: ≤ 86,400 segments + 2,880 head + 200 other PUT-class requests a day. */
const TARGET_PUTS_PER_MIN = (86_400 + 2_880 + 200) / 1440;

export interface PitrTargetRow {
  target: string;
  measured: string;
  verdict: string;
}

export interface PitrContext {
  readonly runtime: ChildRuntime;
  readonly s3: BenchS3;
  /** The bench's database (checkpointed); the part works on a copy. */
  readonly db: string;
  readonly work: string;
  /** Commits per second the writer is paced at. */
  readonly rate: number;
  /** Length of each writer window (off, then on), seconds. */
  readonly seconds: number;
  /** Length of the idle window after the flush, seconds. */
  readonly idleSeconds: number;
  /** Capture's rebaseRatio: small enough, and bases inside the generation are taken during the load. */
  readonly rebaseRatio?: number;
  readonly rounds: number;
  readonly say: (s: string) => void;
  readonly note: (s: string) => void;
  readonly summary: PitrTargetRow[];
}

/** A child process talking in lines; with `timed`, under GNU time for its peak RSS and CPU time. */
class LineProcess {
  readonly #lines: string[] = [];
  #buf = '';
  #err = '';
  #exited = false;
  readonly #closed: Promise<number | null>;
  readonly #child;

  constructor(label: string, args: readonly string[], timed: boolean) {
    const [cmd, ...rest] = timed
      ? ['/usr/bin/time', '-f', TIME_FORMAT, process.execPath, ...args]
      : [process.execPath, ...args];
    this.#child = spawn(cmd!, rest, { stdio: ['pipe', 'pipe', 'pipe'] });
    // Only the new chunk is searched for line ends: the writer's report is one line of tens of MB after a
    // long window, and searching the whole buffer at every 64 KiB chunk took minutes (a 20 min run timed out).
    this.#child.stdout.setEncoding('utf8').on('data', (d: string) => {
      let from = 0;
      for (let i = d.indexOf('\n'); i >= 0; i = d.indexOf('\n', from)) {
        this.#lines.push(this.#buf + d.slice(from, i));
        this.#buf = '';
        from = i + 1;
      }
      this.#buf += d.slice(from);
    });
    this.#child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.#err += d;
      if (!d.includes('LIFEBOAT_BENCH_TIME')) process.stderr.write(`[${label}] ${d}`);
    });
    this.#closed = new Promise((resolve) =>
      this.#child.on('close', (code) => {
        this.#exited = true;
        resolve(code);
      }),
    );
  }

  send(line: string): void {
    this.#child.stdin.write(`${line}\n`);
  }

  /** The first line not yet taken that starts with `prefix`, without the prefix. */
  async line(prefix: string, timeoutMs = 600_000): Promise<string> {
    const until = performance.now() + timeoutMs;
    for (;;) {
      const i = this.#lines.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return this.#lines.splice(i, 1)[0]!.slice(prefix.length);
      if (this.#exited) throw new Error(`the process exited before printing "${prefix}": ${this.#err.slice(-2000)}`);
      if (performance.now() > until) throw new Error(`no "${prefix}" within ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  /** Waits for the exit; GNU time's peak RSS (bytes) and CPU seconds. */
  async finished(): Promise<{ maxRss: number; cpuS: number }> {
    this.#child.stdin.end();
    const code = await this.#closed;
    const m = /LIFEBOAT_BENCH_TIME maxrss_kb=(\d+) user=([\d.]+) sys=([\d.]+)/.exec(this.#err);
    if (code !== 0) throw new Error(`exited ${code}: ${this.#err.slice(-2000)}`);
    return m ? { maxRss: Number(m[1]) * 1024, cpuS: Number(m[2]) + Number(m[3]) } : { maxRss: NaN, cpuS: NaN };
  }

  kill(): void {
    if (!this.#exited) this.#child.kill('SIGKILL');
  }
}

interface Counts {
  readonly at: number;
  readonly cpuS: number;
  /** The capture process's VmRSS and VmHWM at that moment, bytes. */
  readonly rss: number;
  readonly hwm: number;
  /** Of the resident set: anonymous, file-backed and shared memory (RssAnon, RssFile, RssShmem), bytes. */
  readonly anon: number;
  readonly file: number;
  readonly shmem: number;
  /** process.memoryUsage() of the capture process: V8 heap used, external memory, of which ArrayBuffers. */
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  readonly requests: Record<string, number>;
}

const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const diff = (a: Counts, b: Counts): Record<string, number> =>
  Object.fromEntries(Object.keys(b.requests).map((k) => [k, b.requests[k]! - (a.requests[k] ?? 0)]));
const byKind = (r: Record<string, number>) =>
  Object.entries(r)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';

function latencyStats(lat: readonly number[]) {
  const s = [...lat].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

/** For each commit (its return time), the wait until the first acknowledged segment holding its txid. */
function rpoOf(
  ends: readonly number[],
  baseTxid: number,
  shipped: readonly Shipped[],
): { rpo: number[]; unacked: number } {
  const acks = [...shipped].sort((a, b) => a.txid - b.txid);
  const rpo: number[] = [];
  let unacked = 0;
  let k = 0;
  for (const [j, end] of ends.entries()) {
    const txid = baseTxid + j + 1;
    while (k < acks.length && acks[k]!.txid < txid) k++;
    if (k === acks.length) unacked++;
    else rpo.push(acks[k]!.at - end);
  }
  return { rpo: rpo.sort((a, b) => a - b), unacked };
}

export async function pitrPart(ctx: PitrContext): Promise<void> {
  const { s3, work, runtime, note } = ctx;
  const db = join(work, 'pitr.db');
  copyFileSync(ctx.db, db);
  if (existsSync(`${ctx.db}-wal`)) copyFileSync(`${ctx.db}-wal`, `${db}-wal`);
  const dbBytes = statSync(db).size;
  const bucket = 'pitr';
  await s3.ensureBucket(bucket);
  await s3.empty(bucket);
  const s3Config = s3.config(bucket);
  const dbId = newDbId();
  const childArgs = (req: PitrChildRequest) => [...runtime.scriptArgs('pitr-child'), JSON.stringify(req)];
  const windowMs = ctx.seconds * 1000;

  const writer = new LineProcess(
    'writer',
    ['--no-warnings', '--import', import.meta.resolve('tsx'), WRITER, db, String(ctx.rate), 'hold'],
    false,
  );
  const children: LineProcess[] = [writer];
  try {
    await writer.line('ready');

    // Window 1: continuous backup off; the same process and modules run beside the writer, idle.
    note(`continuous backup off: the writer commits for ${ctx.seconds} s`);
    const off = new LineProcess('pitr-idle', childArgs({ op: 'idle', s3: s3Config }), true);
    children.push(off);
    await sleep(1000); // its start-up is not the writer's window
    const loadOff = loadavg()[0]!;
    writer.send('mark off\ngo');
    await sleep(windowMs);
    writer.send('mark -\npause');
    await writer.line('paused');
    off.send('stop');
    await off.line('result ');
    const offRun = await off.finished();

    // Window 2: capture starts (base uploaded while the writer is paused), then the same load.
    note('starting capture (the base is uploaded while the writer waits)');
    const spawnedAt = nowMs();
    const cap = new LineProcess(
      'pitr-capture',
      childArgs({
        op: 'capture',
        db,
        s3: s3Config,
        dbId,
        syncIntervalMs: SYNC_INTERVAL_MS,
        ...(ctx.rebaseRatio !== undefined ? { rebaseRatio: ctx.rebaseRatio } : {}),
      }),
      true,
    );
    children.push(cap);
    const started = JSON.parse(await cap.line('started ')) as { baseTxid: number; genId: string; at: number };
    const count = async (label: string): Promise<Counts> => {
      cap.send(`counts ${label}`);
      return JSON.parse(await cap.line(`counts ${label} `)) as Counts;
    };
    const load0 = await count('load0');
    note(`continuous backup on (base txid ${started.baseTxid}): the writer commits for ${ctx.seconds} s`);
    const loadOn = loadavg()[0]!;
    writer.send('mark on\ngo');
    const goAt = nowMs();
    // The capture process's memory every 10 s of the load: does it level off?
    const series: Counts[] = [load0];
    for (let t = 10_000; t < windowMs; t += 10_000) {
      await sleep(Math.max(0, goAt + t - nowMs()));
      series.push(await count(`load-${t / 1000}s`));
    }
    await sleep(Math.max(0, goAt + windowMs - nowMs()));
    writer.send('mark -\npause');
    await writer.line('paused');
    const load1 = await count('load1');
    series.push(load1);
    // The last commits ship on their own schedule (a flush now would shorten their wait).
    await sleep(SYNC_INTERVAL_MS + 2000);
    cap.send('flush');
    const flushed = JSON.parse(await cap.line('flushed ')) as { txid: number };
    note(`flushed at txid ${flushed.txid}; idle for ${ctx.idleSeconds} s`);
    const idle0 = await count('idle0');
    await sleep(ctx.idleSeconds * 1000);
    const idle1 = await count('idle1');
    cap.send('stop');
    const result = JSON.parse(await cap.line('result ')) as {
      shipped: Shipped[];
      status: Pick<CaptureStatus, 'segments' | 'walRestarts' | 'state' | 'genId' | 'checkpoints' | 'shipped'>;
    };
    const capRun = await cap.finished();
    note(
      `capture shipped ${result.status.shipped.bases} base(s): the generation's first and ` +
        `${result.status.shipped.bases - 1} inside it (rebase ratio ${ctx.rebaseRatio ?? 'default'})`,
    );

    // A clean restart: capture closed above, the writer is paused, so nothing was committed since.
    note('restarting capture after its clean close (it should go on with the generation)');
    const restartedAt = nowMs();
    const again = new LineProcess(
      'pitr-capture-restart',
      childArgs({ op: 'capture', db, s3: s3Config, dbId, syncIntervalMs: SYNC_INTERVAL_MS }),
      false,
    );
    children.push(again);
    const resumed = JSON.parse(await again.line('started ')) as { genId: string; at: number };
    again.send('counts restart');
    const restartCounts = JSON.parse(await again.line('counts restart ')) as Counts;
    again.send('stop');
    const restartResult = JSON.parse(await again.line('result ')) as { status: Pick<CaptureStatus, 'shipped'> };
    await again.finished();
    const starts: StartRun[] = [
      {
        label: 'first start (no state: a new generation and its base)',
        ms: started.at - spawnedAt,
        shipped: result.status.shipped,
        requests: load0.requests,
        sameGeneration: false,
      },
      {
        label: 'restart after a clean close, nothing committed since',
        ms: resumed.at - restartedAt,
        shipped: restartResult.status.shipped,
        requests: restartCounts.requests,
        sameGeneration: resumed.genId === started.genId,
      },
    ];
    writer.send('stop');
    const printed = `{${await writer.line('{', 60_000)}`;
    const windows = (JSON.parse(printed) as { windows: Record<string, WriterWindow> }).windows;

    // Restores, each in its own process: the base alone, then base + every segment of the run.
    // With bases inside the generation, also the point just before the newest: from the base before it, with every
    // segment between them (the most a restore applies under the re-basing rule).
    const restores: Measurements['restores'] = { base: [], latest: [], beforeBase: [] };
    const restoreTo = async (name: keyof Measurements['restores'], target: PitrTarget, r: number) => {
      const path = join(work, `pitr-restore-${name}-${r}.sqlite`);
      // LIFEBOAT_BENCH_CPU_PROF=<dir>: a CPU profile of each restore process there (where its time goes).
      const profile = process.env.LIFEBOAT_BENCH_CPU_PROF;
      const m = await measureCommand(process.execPath, [
        ...(profile
          ? ['--cpu-prof', '--cpu-prof-dir', profile, '--cpu-prof-name', `restore-${name}-${r}.cpuprofile`]
          : []),
        ...childArgs({ op: 'restore', s3: s3Config, dbId, target, path }),
      ]);
      const reply = JSON.parse(m.stdout.trim().split('\n').pop()!) as PitrRestoreReply;
      restores[name].push({ ...reply, maxRss: m.maxRss });
      rmSync(path, { force: true });
      return reply;
    };
    for (let r = 0; r < ctx.rounds; r++) {
      await restoreTo('base', { kind: 'txid', txid: started.baseTxid }, r);
      const { baseTxids } = await restoreTo('latest', { kind: 'latest' }, r);
      const newest = baseTxids.length > 1 ? baseTxids[baseTxids.length - 1]! : undefined;
      if (newest !== undefined) await restoreTo('beforeBase', { kind: 'txid', txid: newest - 1 }, r);
    }

    report(ctx, {
      dbBytes,
      baseTxid: started.baseTxid,
      flushedTxid: flushed.txid,
      off: windows.off!,
      on: windows.on!,
      shipped: result.shipped,
      status: result.status,
      load: [load0, load1],
      series,
      idle: [idle0, idle1],
      offRun,
      capRun,
      restores,
      loadAvg: [loadOff, loadOn],
      starts,
    });
    await s3.empty(bucket);
  } finally {
    for (const c of children) c.kill();
    rmSync(db, { force: true });
    rmSync(`${db}-wal`, { force: true });
    rmSync(`${db}-shm`, { force: true });
    rmSync(`${db}.lifeboat-pitr`, { recursive: true, force: true });
  }
}

interface WriterWindow {
  lat: number[];
  ends: number[];
  lateMs: number;
  seconds: number;
}

type RestoreRun = PitrRestoreReply & { maxRss: number };

/** One start of capture: from its process's spawn to shipping, and what it sent to get there. */
interface StartRun {
  readonly label: string;
  readonly ms: number;
  /** For the first start, what it shipped over the whole run (its bases are the start's base and any re-bases). */
  readonly shipped: CaptureStatus['shipped'];
  readonly requests: Record<string, number>;
  readonly sameGeneration: boolean;
}

interface Measurements {
  dbBytes: number;
  baseTxid: number;
  flushedTxid: number;
  off: WriterWindow;
  on: WriterWindow;
  shipped: Shipped[];
  status: Pick<CaptureStatus, 'segments' | 'walRestarts' | 'state' | 'genId' | 'checkpoints'>;
  load: [Counts, Counts];
  /** Samples of the capture process every 10 s of the load (first: before it, last: after it). */
  series: Counts[];
  idle: [Counts, Counts];
  offRun: { maxRss: number; cpuS: number };
  capRun: { maxRss: number; cpuS: number };
  /** The first base alone, the latest point, and the point just before the newest base (when one was taken). */
  restores: { base: RestoreRun[]; latest: RestoreRun[]; beforeBase: RestoreRun[] };
  /** 1-minute load average when each writer window (off, on) began. */
  loadAvg: [number, number];
  starts: StartRun[];
}

function report(ctx: PitrContext, m: Measurements): void {
  const { say, summary } = ctx;
  const dbMiB = (m.dbBytes / MiB).toFixed(0);
  const commits = m.on.ends.length;
  const mapped = m.flushedTxid - m.baseTxid === commits;
  const { rpo, unacked } = rpoOf(m.on.ends, m.baseTxid, m.shipped);
  const rpoP = { p50: percentile(rpo, 50), p99: percentile(rpo, 99), max: rpo[rpo.length - 1] ?? NaN };
  const cycles = m.status.checkpoints;
  const rateOn = commits / m.on.seconds;
  const rateOff = m.off.ends.length / m.off.seconds;
  say(
    table(
      `Continuous backup: RPO on a ${dbMiB} MiB database, sync interval ${SYNC_INTERVAL_MS / 1000} s ` +
        `(writer paced at ${ctx.rate} commits/s)`,
      ['what', 'seconds', 'commits', 'commits/s reached', 'segments', 'p50 ms', 'p99 ms', 'max ms'],
      [
        [
          'commit returned → acknowledgement of the segment holding its txid',
          m.on.seconds,
          commits,
          rateOn,
          m.status.segments,
          rpoP.p50,
          rpoP.p99,
          rpoP.max,
        ],
      ],
      [
        `Every commit of the window is transaction base + n (${mapped ? 'checked' : '**not** confirmed'}: ` +
          `the flush returned txid ${m.flushedTxid}, base ${m.baseTxid}, ${commits} commits` +
          `${unacked ? `; ${unacked} commits had no acknowledgement` : ''}). ` +
          'Commit times are taken in the writer process, acknowledgements in the capture process, both from the ' +
          `system clock. WAL restarts followed: ${m.status.walRestarts}; capture state at the end: ${m.status.state}.` +
          ` Capture's checkpoint cycles: ${cycles.done} (${cycles.skipped} skipped: the writer held the lock), ` +
          `holding the write lock ${(cycles.lockMs / Math.max(1, cycles.done)).toFixed(1)} ms on average, ` +
          `${cycles.maxLockMs.toFixed(1)} ms at most (commits wait meanwhile).`,
      ],
    ),
  );
  const rpoOk = mapped && unacked === 0;
  summary.push({
    target: `RPO p99 ≤ ${TARGET_RPO_P99_MS / 1000} s at a ${SYNC_INTERVAL_MS / 1000} s sync interval`,
    measured: rpoOk
      ? `p99 ${(rpoP.p99 / 1000).toFixed(2)} s (p50 ${(rpoP.p50 / 1000).toFixed(2)} s, max ` +
        `${(rpoP.max / 1000).toFixed(2)} s) at ${rateOn.toFixed(0)} commits/s`
      : 'not measured (commits could not be mapped to txids)',
    verdict: rpoOk ? (rpoP.p99 <= TARGET_RPO_P99_MS ? 'met' : 'missed') : 'not measured',
  });
  if (rpoOk)
    summary.push({
      target: `  RPO p50 ≤ ${TARGET_RPO_P50_MS / 1000} s (spec §4)`,
      measured: `${(rpoP.p50 / 1000).toFixed(2)} s`,
      verdict: rpoP.p50 <= TARGET_RPO_P50_MS ? 'met' : 'missed',
    });

  const us = (ms: number) => ms * 1000;
  const lOff = latencyStats(m.off.lat);
  const lOn = latencyStats(m.on.lat);
  const row = (label: string, w: WriterWindow, s: ReturnType<typeof latencyStats>, rate: number): Cell[] => [
    label,
    w.seconds,
    w.lat.length,
    rate,
    us(s.p50),
    us(s.p99),
    us(s.max),
    w.lateMs,
    `${ratio(s.p99, lOff.p99)}×`,
  ];
  say(
    table(
      'Continuous backup: commit latency of the writer process, off vs on (same writer, same run)',
      ['window', 'seconds', 'commits', 'commits/s', 'p50 µs', 'p99 µs', 'max µs', 'worst delay ms', 'p99 vs off'],
      [
        row('continuous backup off (an idle process of the same code beside it)', m.off, lOff, rateOff),
        row(`capture running (sync interval ${SYNC_INTERVAL_MS / 1000} s)`, m.on, lOn, rateOn),
      ],
      [
        'Latency is the duration of each transaction (BEGIN … COMMIT, two UPDATEs, WAL, synchronous=NORMAL) in the ' +
          'writer process; "worst delay" is how late the writer started its most delayed commit (its process ' +
          'starved of CPU). Capture reads the WAL, seals and uploads from its own process on the same 2 cores. ' +
          `1-minute load average when the windows began: ${m.loadAvg.map((l) => l.toFixed(2)).join(' (off), ')} (on).`,
      ],
    ),
  );
  summary.push({
    target: `writer commit p99 with continuous backup ≤ ${TARGET_WRITER_P99_RATIO}× off`,
    measured: `${ratio(lOn.p99, lOff.p99)}× (${us(lOff.p99).toFixed(0)} → ${us(lOn.p99).toFixed(0)} µs)`,
    verdict: lOn.p99 <= TARGET_WRITER_P99_RATIO * lOff.p99 ? 'met' : 'missed',
  });

  const loadReq = diff(m.load[0], m.load[1]);
  const idleReq = diff(m.idle[0], m.idle[1]);
  const loadS = (m.load[1].at - m.load[0].at) / 1000;
  const idleS = (m.idle[1].at - m.idle[0].at) / 1000;
  const perMin = (n: number, s: number) => (n / s) * 60;
  const puts = (r: Record<string, number>) => (r.putIfAbsent ?? 0) + (r.putIfMatch ?? 0) + (r.putStream ?? 0);
  const cpuPct = ((m.load[1].cpuS - m.load[0].cpuS) / loadS) * 100;
  say(
    table(
      'Continuous backup: requests to the bucket',
      ['window', 'seconds', 'requests', 'by kind', 'per minute', 'PUT-class per minute'],
      [
        [
          `under the load above (${rateOn.toFixed(0)} commits/s)`,
          loadS,
          total(loadReq),
          byKind(loadReq),
          perMin(total(loadReq), loadS),
          perMin(puts(loadReq), loadS),
        ],
        ['idle, after a flush (no commits)', idleS, total(idleReq), byKind(idleReq), perMin(total(idleReq), idleS), ''],
      ],
      [
        'Counted per call of the PitrObjectStore (a counting wrapper around S3ConditionalStore): one HTTP request ' +
          'each, but a putStream (a base inside the generation: a multipart upload of the whole database) is ' +
          "several; the SDK's own retries are not counted. " +
          'putIfAbsent = segments, putIfMatch = the head (lease renewals). ' +
          `Capture's CPU during the load: ${cpuPct.toFixed(0)}% of one core.`,
      ],
    ),
  );
  summary.push({
    target: '0 S3 requests while idle',
    measured: `${total(idleReq)} in ${idleS.toFixed(0)} s after a flush`,
    verdict: total(idleReq) === 0 ? 'met' : 'missed',
  });
  summary.push({
    target: `  PUT-class requests ≤ ${TARGET_PUTS_PER_MIN.toFixed(0)}/min at a 1 s interval (spec §4)`,
    measured: `${perMin(puts(loadReq), loadS).toFixed(1)}/min under load`,
    verdict: perMin(puts(loadReq), loadS) <= TARGET_PUTS_PER_MIN ? 'met' : 'missed',
  });

  const pages = m.dbBytes / 4096;
  const deltaMiB = (m.capRun.maxRss - m.offRun.maxRss) / MiB;
  const deltaTarget = 32 + (16 * pages) / MiB;
  say(
    table(
      'Continuous backup: peak RSS of the process running capture',
      ['process', 'peak RSS MB', 'CPU s'],
      [
        [
          `same code and modules, continuous backup off (idle ${ctx.seconds} s while the writer commits)`,
          mb(m.offRun.maxRss),
          m.offRun.cpuS,
        ],
        [
          `capture: base of ${dbMiB} MiB uploaded, ${ctx.seconds} s of load, flush, ${ctx.idleSeconds} s idle`,
          mb(m.capRun.maxRss),
          m.capRun.cpuS,
        ],
        ['difference', mb(m.capRun.maxRss - m.offRun.maxRss), ''],
        ['  capture, high-water mark once the base was uploaded (before the load)', mb(m.load[0].hwm), ''],
        ['  capture, resident at the end of the load', mb(m.load[1].rss), ''],
        ['  capture, resident after the idle window', mb(m.idle[1].rss), ''],
        [
          '  capture, high-water mark of the load and idle windows alone',
          m.idle[1].hwm > m.load[0].hwm ? mb(m.idle[1].hwm) : `≤ ${fmt(mb(m.load[0].hwm))} (not above the base's)`,
          '',
        ],
      ],
      [
        "Each is its own process (compiled JavaScript as shipped unless --tsx); peak RSS is GNU time's maximum " +
          'resident set size, over the whole life of the process (the base upload included); the indented rows are ' +
          "the capture process's own VmRSS / VmHWM (/proc/self/status) at the window edges.",
      ],
    ),
  );
  const t0 = m.series[0]!.at;
  const memRow = (label: string, c: Counts): Cell[] => [
    label,
    mb(c.rss),
    mb(c.hwm),
    mb(c.anon),
    mb(c.file),
    mb(c.shmem),
    mb(c.heapUsed),
    mb(c.external),
    mb(c.arrayBuffers),
  ];
  say(
    table(
      'Continuous backup: memory of the capture process through the run',
      [
        'when',
        'RSS MB',
        'high-water MB',
        'anonymous MB',
        'file MB',
        'shared MB',
        'V8 heap used MB',
        'external MB',
        'of which ArrayBuffers MB',
      ],
      [
        ...m.series.map((c, i) =>
          memRow(
            i === 0
              ? 'base uploaded, before the load'
              : `${((c.at - t0) / 1000).toFixed(0)} s into the load${i === m.series.length - 1 ? ' (its end)' : ''}`,
            c,
          ),
        ),
        memRow(`after the flush and ${ctx.idleSeconds} s idle`, m.idle[1]),
      ],
      [
        'From /proc/self/status (VmRSS, VmHWM; RssAnon, RssFile, RssShmem: what the resident set is) and ' +
          'process.memoryUsage() in the capture process.',
      ],
    ),
  );
  summary.push({
    target: `peak RSS of the capture process < ${TARGET_RSS_MB} MB (${dbMiB} MiB database)`,
    measured: `${mb(m.capRun.maxRss).toFixed(0)} MB`,
    verdict: mb(m.capRun.maxRss) < TARGET_RSS_MB ? 'met' : 'missed',
  });
  summary.push({
    target: `  capture ≤ 32 MiB + 16 B/page above the same process off (spec §4: ${deltaTarget.toFixed(0)} MiB)`,
    measured: `${deltaMiB.toFixed(1)} MiB`,
    verdict: deltaMiB <= deltaTarget ? 'met' : 'missed',
  });

  const base = m.restores.base;
  const baseMs = median(base.map((x) => x.ms));
  const baseBytes = base[0]?.baseBytes ?? NaN;
  const rrow = (label: string, xs: RestoreRun[]): Cell[] => [
    label,
    median(xs.map((x) => x.ms)) / 1000,
    xs[0]?.txid ?? NaN,
    xs[0]?.baseTxid ?? NaN,
    xs[0]?.segments ?? NaN,
    mb((xs[0]?.baseBytes ?? NaN) + (xs[0]?.segmentBytes ?? NaN)),
    mb(Math.max(...xs.map((x) => x.maxRss))),
  ];
  const measured = [
    { name: 'latest', how: 'the newest base + the segments after it', xs: m.restores.latest },
    {
      name: 'just before the newest base',
      how: 'the base before it + every segment between',
      xs: m.restores.beforeBase,
    },
  ]
    .filter((p) => p.xs.length > 0)
    .map((p) => ({ ...p, x: p.xs[0]!, ms: median(p.xs.map((x) => x.ms)) }));
  const applying = measured.map(({ name, x, ms }) => {
    const extraS = (ms - baseMs) / 1000;
    return (
      `${name}: ${x.segmentCount} segments, ${mb(x.segmentBytes).toFixed(1)} MB stored ` +
      `(${((x.segmentBytes / m.dbBytes) * 100).toFixed(1)}% of the database), ${x.txid - x.baseTxid} transactions ` +
      `applied in ${extraS.toFixed(2)} s beyond the base alone (${((x.txid - x.baseTxid) / extraS).toFixed(0)}/s).`
    );
  });
  say(
    table(
      `Continuous backup: point-in-time restore (median of ${ctx.rounds})`,
      ['restore to', 'seconds', 'txid', 'from base', 'segments applied', 'MB fetched', 'peak RSS MB'],
      [
        rrow('the first base’s txid (the base alone)', base),
        ...measured.map((p) => rrow(`${p.name} (${p.how})`, p.xs)),
      ],
      [
        `The ${mb(m.dbBytes).toFixed(0)} MB database; its base object ${mb(baseBytes).toFixed(0)} MB. ` +
          applying.join(' ') +
          ' Each restore runs in its own process: list, plan, base streamed from the bucket and decrypted, ' +
          'segments with every chain check, fsync (no integrity_check: that is the restore command’s validation, ' +
          'the same for all).',
      ],
    ),
  );
  for (const { name, x, ms } of measured) {
    summary.push({
      target:
        `restore to a point ≤ ${TARGET_RESTORE_RATIO}× restoring the base alone: ${name} ` +
        `(segments ${((x.segmentBytes / m.dbBytes) * 100).toFixed(1)}% of the database size)`,
      measured: `${ratio(ms, baseMs)}× (${(baseMs / 1000).toFixed(2)} → ${(ms / 1000).toFixed(2)} s)`,
      verdict: ms <= TARGET_RESTORE_RATIO * baseMs ? 'met' : 'missed',
    });
  }

  say(
    table(
      `Continuous backup: a start of capture on the ${dbMiB} MiB database, first vs after a clean close`,
      ['start', 'seconds to shipping', 'bases uploaded', 'requests', 'same generation'],
      m.starts.map((st) => [
        st.label,
        st.ms / 1000,
        st.requests.putStream ?? 0,
        byKind(st.requests),
        st.sameGeneration ? 'yes' : 'no',
      ]),
      [
        'From the spawn of the capture process (Node and module load included) to capture shipping. The first ' +
          'start copies the database at a pinned commit and uploads it as the base (putStream: one multipart ' +
          'upload); the restart copies it too, hashes it against the checksum recorded after the last segment, ' +
          'reads that segment back (get) and, when they match, goes on with the generation: no base, no gap.',
      ],
    ),
  );
}
