// npm run bench -- [--size-mib 1024] [--rss-sizes 256,1024,4096] [--rounds 3] [--writer-rate 1000]
//                  [--pitr-seconds 20] [--pitr-idle-seconds 15] [--pitr-rebase-ratio R]
//                  [--skip-peers] [--skip-s3] [--write-doc] [--tsx] [--keep] [--tmp DIR]
//
// Measures Lifeboat end to end, in one run, next to the machine's own limits and next to the
// tools users reach for instead, and prints one markdown table per part; --write-doc puts
// them into docs/benchmarks.md (below the `<!-- results -->` marker; everything above it,
// including the `## Encryption` section of bench/crypto.ts, is left alone).
//
// Every measured Lifeboat operation runs in its own process (bench/child.ts, compiled to
// plain JavaScript as shipped unless --tsx) under GNU time, which reports its peak RSS and
// CPU time. Network traffic goes to 127.0.0.1 only.
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChildRequest } from './child.js';
import { type ChildRuntime, compileForChildren, tsxRuntime } from './lib/build.js';
import { type ChildResult, runChild } from './lib/children.js';
import { buildDb } from './lib/db.js';
import { type WindowStats, writerLatency } from './lib/latency.js';
import { describeMachine } from './lib/machine.js';
import { ensureCommands, RCLONE_DOWNLOAD_STREAMS, rcloneCopy, rcloneDownload, resticBackup } from './lib/peers.js';
import { type BenchS3, startBenchS3 } from './lib/s3server.js';
import type { StoreSpec } from './lib/stores.js';
import {
  type Cell,
  GiB,
  type Measured,
  MiB,
  mb,
  mbps,
  measureCommand,
  median,
  memAvailable,
  pct,
  ratio,
  table,
} from './lib/util.js';
import { pitrPart } from './pitr.js';

const { values: opts } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    'rss-sizes': { type: 'string', default: '256,1024,4096' },
    rounds: { type: 'string', default: '3' },
    'writer-rate': { type: 'string', default: '1000' },
    'pitr-seconds': { type: 'string', default: '20' },
    'pitr-idle-seconds': { type: 'string', default: '15' },
    'pitr-rebase-ratio': { type: 'string' },
    'skip-peers': { type: 'boolean', default: false },
    'skip-s3': { type: 'boolean', default: false },
    'write-doc': { type: 'boolean', default: false },
    tsx: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    tmp: { type: 'string', default: tmpdir() },
    parts: { type: 'string', default: 'snapshot,s3,split,multipart,rss,latency,pitr,peers' },
  },
});
const SIZE_MIB = Number(opts['size-mib']);
const RSS_SIZES = opts['rss-sizes']!.split(',').filter(Boolean).map(Number);
const ROUNDS = Math.max(1, Number(opts.rounds));
const PEER_ROUNDS = Math.min(ROUNDS, 2);
const WRITER_RATE = Number(opts['writer-rate']);
const PARTS = new Set(opts.parts!.split(','));
const TARGET_RSS_MB = 150;
const TARGET_BACKUP_PCT = 70;
const TARGET_P99_RATIO = 3;

mkdirSync(opts.tmp!, { recursive: true });
const work = mkdtempSync(join(opts.tmp!, 'lifeboat-bench-'));
const out: string[] = [];
const say = (s: string) => {
  process.stdout.write(`${s}\n`);
  out.push(s);
};
const note = (s: string) => process.stderr.write(`bench: ${s}\n`);
const sec = (ms: number) => ms / 1000;
const rss = (bytes: number) => mb(bytes);

interface Summary {
  target: string;
  measured: string;
  verdict: string;
}
const summary: Summary[] = [];
/** Median full-backup durations of the main database, per store kind, for the writer's idle windows. */
const backupMs: { s3?: number; local?: number } = {};

function cleanup(...paths: string[]): void {
  for (const p of paths) rmSync(p, { recursive: true, force: true });
}

async function part(title: string, fn: () => Promise<void>): Promise<void> {
  const t0 = performance.now();
  note(`${title}…`);
  try {
    await fn();
  } catch (err) {
    note(`${title} failed: ${(err as Error).stack ?? err}`);
    say(`### ${title}\n\nNot measured: the run failed (${(err as Error).message.split('\n')[0]}).\n`);
  }
  note(`${title} done in ${sec(performance.now() - t0).toFixed(0)} s`);
}

/** Reads a file once so the page cache is warm for everybody (the app's database usually is). */
async function warm(path: string): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    createReadStream(path, { highWaterMark: 4 * MiB })
      .on('data', () => undefined)
      .on('end', resolve)
      .on('error', reject),
  );
}

// ---------------------------------------------------------------------------------------
// 1. Snapshot
async function snapshotPart(runtime: ChildRuntime, db: string, bytes: number, haveSqlite3: boolean): Promise<number> {
  const target = join(work, 'snap-out.db');
  type Method = { name: string; measure: () => Promise<{ ms: number; maxRss: number }> };
  const shell = (script: string) => async () => {
    const m = await measureCommand('sh', ['-c', script]);
    return { ms: m.ms, maxRss: m.maxRss };
  };
  const child = (request: ChildRequest) => async () => {
    const r = await runChild(runtime, request);
    return { ms: r.ms, maxRss: r.maxRss };
  };
  const q = (p: string) => `'${p.replaceAll("'", "'\\''")}'`;
  const methods: Method[] = [
    { name: 'cp (page cache warm, no fsync)', measure: shell(`cp ${q(db)} ${q(target)}`) },
    {
      name: 'cp + fsync (`sync FILE`): the physical limit',
      measure: shell(`cp ${q(db)} ${q(target)} && sync ${q(target)}`),
    },
    ...(haveSqlite3
      ? [
          {
            name: 'sqlite3 CLI `.backup` + fsync',
            measure: shell(`sqlite3 ${q(db)} ".backup ${target.replaceAll("'", "''")}" && sync ${q(target)}`),
          },
          {
            name: "sqlite3 CLI `VACUUM INTO` + fsync (Hiqlite's method)",
            measure: shell(`sqlite3 ${q(db)} "VACUUM INTO '${target.replaceAll("'", "''")}'" && sync ${q(target)}`),
          },
        ]
      : []),
    {
      name: '`VACUUM INTO` + fsync, in-process, same SQLite as Lifeboat',
      measure: child({ op: 'vacuum', db, target }),
    },
    {
      name: '**Lifeboat snapshot**, no check (file-speed copy + fdatasync, in a child process)',
      measure: child({ op: 'snapshot', db, target, check: 'none' }),
    },
    {
      name: '**Lifeboat snapshot** with integrity_check (what every backup runs)',
      measure: child({ op: 'snapshot', db, target, check: 'full' }),
    },
  ];
  const times = methods.map(() => [] as number[]);
  const peaks = methods.map(() => 0);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, m] of methods.entries()) {
      await warm(db);
      const res = await m.measure();
      times[i]!.push(res.ms);
      peaks[i] = Math.max(peaks[i]!, res.maxRss);
      cleanup(target);
    }
  }
  const med = times.map(median);
  const cpSync = med[1]!;
  const lifeboatChecked = med[methods.length - 1]!;
  const rows: Cell[][] = methods.map((m, i) => [
    m.name,
    sec(med[i]!),
    mbps(bytes, med[i]!),
    rss(peaks[i]!),
    pct(mbps(bytes, med[i]!), mbps(bytes, cpSync)),
  ]);
  const byName = (prefix: string) => med[methods.findIndex((m) => m.name.startsWith(prefix))] ?? NaN;
  say(
    table(
      `Snapshot of a ${(bytes / MiB).toFixed(0)} MiB database (median of ${ROUNDS})`,
      ['what', 'seconds', 'MB/s', 'peak RSS MB', 'speed vs cp + fsync'],
      rows,
      [
        `Lifeboat with integrity_check is ${ratio(byName('sqlite3 CLI `.backup`'), lifeboatChecked, 1)}× as fast as ` +
          `\`sqlite3 .backup\`, ${ratio(byName('sqlite3 CLI `VACUUM INTO`'), lifeboatChecked, 1)}× as fast as the ` +
          `CLI's VACUUM INTO and ${ratio(byName('`VACUUM INTO`'), lifeboatChecked, 1)}× ` +
          `as fast as VACUUM INTO on the same SQLite. ` +
          'Lifeboat times are the operation inside its process (worker thread start included, Node start-up not); ' +
          'the CLI rows include their process start-up (a few ms). Peak RSS is the whole process.',
      ],
    ),
  );
  return lifeboatChecked;
}

/** Median of one figure of several child runs (default: wall time). */
const medianOf = (xs: readonly ChildResult[], f: (x: ChildResult) => number = (x) => x.ms) => median(xs.map(f));
/** Highest peak RSS of several child runs. */
const peak = (xs: readonly ChildResult[]) => Math.max(...xs.map((x) => x.maxRss));

// ---------------------------------------------------------------------------------------
// 2. + 3. Full backup and restore through the local S3 server
async function s3Part(
  runtime: ChildRuntime,
  s3: BenchS3,
  db: string,
  bytes: number,
  partOneSnapshotMs: number,
  haveRclone: boolean,
): Promise<void> {
  const bucket = 'lifeboat';
  await s3.ensureBucket(bucket);
  const store: StoreSpec = { kind: 's3', s3: s3.config(bucket) };
  const pids = s3.serverPids;
  const putStreamed: ChildResult[] = [];
  const enc: ChildResult[] = [];
  const full: ChildResult[] = [];
  const get: ChildResult[] = [];
  const restore: ChildResult[] = [];
  const verify: ChildResult[] = [];
  const parallelGet: number[] = [];
  const target = { endpoint: s3.endpoint, accessKey: s3.gw.accessKey, secretKey: s3.gw.secretKey, bucket };
  // A warm-up upload: a fresh cluster's first writes are slow (pools, PGs settling).
  await runChild(runtime, { op: 'put', file: db, store, name: 'warm-up' });
  await s3.empty(bucket);
  for (let r = 0; r < ROUNDS; r++) {
    await warm(db);
    putStreamed.push(await runChild(runtime, { op: 'put', file: db, store, name: 'plain' }, pids));
    await s3.empty(bucket);
    enc.push(await runChild(runtime, { op: 'encrypt', file: db }));
    const dir = join(work, `full-${r}`);
    await warm(db);
    const b = await runChild(runtime, { op: 'backup', db, work: dir, store }, pids);
    full.push(b);
    get.push(await runChild(runtime, { op: 'get', store, name: b.name! }, pids));
    const restoreDir = join(work, `restore-${r}`);
    mkdirSync(restoreDir, { recursive: true });
    if (haveRclone) {
      parallelGet.push((await rcloneDownload(target, b.name!, join(restoreDir, 'rclone.out'), work)).ms);
      cleanup(join(restoreDir, 'rclone.out'));
    }
    restore.push(
      await runChild(runtime, { op: 'restore', store, name: b.name!, dbFile: join(restoreDir, 'app.db') }, pids),
    );
    verify.push(await runChild(runtime, { op: 'verify', file: join(restoreDir, 'app.db'), check: 'full' }));
    cleanup(dir, restoreDir);
    await s3.empty(bucket);
  }
  // The ceiling: the plain bytes sent the way the push sends them, parts streamed from the file.
  const putStreamedMs = medianOf(putStreamed);
  const putMs = putStreamedMs;
  const encMs = medianOf(enc);
  const fullMs = medianOf(full);
  const pushMs = medianOf(full, (x) => x.pushMs ?? NaN);
  const snapInBackupMs = medianOf(full, (x) => x.snapshotMs ?? NaN);
  const snapshotMs = Number.isFinite(partOneSnapshotMs) ? partOneSnapshotMs : snapInBackupMs;
  backupMs.s3 = fullMs;
  const stages = [
    { name: 'snapshot + integrity_check + fsync (part 1)', mbps: mbps(bytes, snapshotMs) },
    { name: 'encrypt stream alone (file → cipher → discard)', mbps: mbps(bytes, encMs) },
    { name: 'plain multipart upload (server ingest)', mbps: mbps(bytes, putMs) },
  ];
  const slowest = stages.reduce((a, b) => (b.mbps < a.mbps ? b : a));
  const sequentialMs = snapshotMs + putMs;
  const fullPct = (mbps(bytes, fullMs) / slowest.mbps) * 100;
  const rows: Cell[][] = [
    [
      'stage: Lifeboat snapshot + integrity_check + fsync (from part 1)',
      sec(snapshotMs),
      mbps(bytes, snapshotMs),
      '',
      '',
      '',
      '',
    ],
    [
      'stage: encrypt stream alone, file → ChaCha20-Poly1305 → discard',
      sec(encMs),
      mbps(bytes, encMs),
      rss(peak(enc)),
      medianOf(enc, (x) => x.opCpuS ?? NaN),
      '',
      '',
    ],
    [
      'stage: plain multipart upload of the same bytes, parts streamed from the file (as the push sends them)',
      sec(putStreamedMs),
      mbps(bytes, putStreamedMs),
      rss(peak(putStreamed)),
      medianOf(putStreamed, (x) => x.opCpuS ?? NaN),
      medianOf(putStreamed, (x) => x.serverCpuS),
      pct(mbps(bytes, putStreamedMs), mbps(bytes, putMs)),
    ],
    [`→ slowest stage's ceiling: ${slowest.name}`, '', slowest.mbps, '', '', '', '100%'],
    [
      'bound for a sequential run: snapshot, then upload at the ceiling',
      sec(sequentialMs),
      mbps(bytes, sequentialMs),
      '',
      '',
      '',
      pct(mbps(bytes, sequentialMs), slowest.mbps),
    ],
    [
      'Lifeboat, of which snapshot (inside the backup)',
      sec(snapInBackupMs),
      mbps(bytes, snapInBackupMs),
      '',
      '',
      '',
      '',
    ],
    [
      'Lifeboat, of which encrypt + upload (inside the backup; starts with the copy, overlaps the copy and the check)',
      sec(pushMs),
      mbps(bytes, pushMs),
      '',
      '',
      '',
      pct(mbps(bytes, pushMs), mbps(bytes, putMs)),
    ],
    [
      '**Lifeboat full backup** (snapshot + check + local file + encrypt + multipart upload + retention)',
      sec(fullMs),
      mbps(bytes, fullMs),
      rss(peak(full)),
      medianOf(full, (x) => x.opCpuS ?? NaN),
      medianOf(full, (x) => x.serverCpuS),
      `**${fullPct.toFixed(0)}%**`,
    ],
  ];
  // Both sides share this machine's cores: how busy the full backup kept them.
  const cores = availableParallelism();
  const fullCpuS = medianOf(full, (x) => (x.opCpuS ?? NaN) + x.serverCpuS);
  const busyPct = (fullCpuS / (cores * sec(fullMs))) * 100;
  rows.push([
    `CPU: client + S3 server during the full backup, of ${cores} cores × its wall time`,
    '',
    '',
    '',
    '',
    '',
    `${busyPct.toFixed(0)}% busy`,
  ]);
  say(
    table(
      `Full backup of the ${(bytes / MiB).toFixed(0)} MiB database to the local S3 server (median of ${ROUNDS})`,
      ['what', 'seconds', 'MB/s', 'peak RSS MB', 'client CPU s', 'S3 server CPU s', '% of slowest stage'],
      rows,
      [
        'The upload ceiling is the plain upload (same client, part size and parts in flight, parts streamed from the ' +
          'file). The push row is compared with it (same bytes, plus 16 bytes per 128 KiB). Client CPU is the ' +
          'measured operation in its process (all threads, Node start-up excluded); ' +
          'S3 server CPU is radosgw + its OSD, which share the same 2 cores.',
      ],
    ),
  );
  summary.push({
    target: `full backup ≥ ${TARGET_BACKUP_PCT}% of the slowest stage's ceiling`,
    measured: `${fullPct.toFixed(1)}% (${mbps(bytes, fullMs).toFixed(0)} of ${slowest.mbps.toFixed(0)} MB/s)`,
    verdict: fullPct >= TARGET_BACKUP_PCT ? 'met' : 'missed',
  });
  summary.push({
    target: `  CPU of the ${cores} cores used by client + S3 server during the full backup`,
    measured: `${busyPct.toFixed(0)}%`,
    verdict: busyPct >= 85 ? 'CPU-bound' : 'not CPU-bound',
  });

  const getMs = medianOf(get);
  const restoreMs = medianOf(restore);
  say(
    table(
      `Restore of that backup from the local S3 server (median of ${ROUNDS})`,
      ['what', 'seconds', 'MB/s', 'peak RSS MB', 'client CPU s', 'S3 server CPU s', 'speed vs download'],
      [
        [
          'plain download of the encrypted object to nowhere (server egress ceiling)',
          sec(getMs),
          mbps(bytes, getMs),
          rss(peak(get)),
          medianOf(get, (x) => x.opCpuS ?? NaN),
          medianOf(get, (x) => x.serverCpuS),
          '100%',
        ],
        [
          '**Lifeboat restore**: download + decrypt + temp file + integrity_check + crash-safe swap',
          sec(restoreMs),
          mbps(bytes, restoreMs),
          rss(peak(restore)),
          medianOf(restore, (x) => x.opCpuS ?? NaN),
          medianOf(restore, (x) => x.serverCpuS),
          pct(mbps(bytes, restoreMs), mbps(bytes, getMs)),
        ],
        [
          '  for comparison: the integrity_check alone, on the restored file',
          sec(medianOf(verify)),
          mbps(bytes, medianOf(verify)),
          rss(peak(verify)),
          medianOf(verify, (x) => x.opCpuS ?? NaN),
          '',
          '',
        ],
        ...(parallelGet.length > 0
          ? [
              [
                `  \`rclone copyto\`, ${RCLONE_DOWNLOAD_STREAMS} parallel ranged GETs to a file (independent client)`,
                sec(median(parallelGet)),
                mbps(bytes, median(parallelGet)),
                '',
                '',
                '',
                pct(mbps(bytes, median(parallelGet)), mbps(bytes, getMs)),
              ],
              [
                '  ceiling: that parallel download + the integrity_check alone',
                sec(median(parallelGet) + medianOf(verify)),
                mbps(bytes, median(parallelGet) + medianOf(verify)),
                '',
                '',
                '',
                '',
              ],
            ]
          : []),
      ],
    ),
  );
  if (parallelGet.length > 0) {
    const ceilingMs = median(parallelGet) + medianOf(verify);
    const ratio = restoreMs / ceilingMs;
    summary.push({
      target: 'restore ≤ 1.1 × (rclone parallel download + integrity_check alone)',
      measured: `${ratio.toFixed(2)}× (${sec(restoreMs).toFixed(2)} s against ${sec(ceilingMs).toFixed(2)} s)`,
      verdict: ratio <= 1.1 ? 'met' : 'missed',
    });
    summary.push({
      target: `peak RSS of a restore < ${TARGET_RSS_MB} MB`,
      measured: `${rss(peak(restore)).toFixed(1)} MB`,
      verdict: rss(peak(restore)) < TARGET_RSS_MB ? 'met' : 'missed',
    });
  }
}

/**
 * The upload ceiling and the full backup again, with radosgw and its OSD confined to the last
 * core and the measured process to the others. Sharing all cores, the server's ingest competes
 * with the copy, the check and the cipher for CPU during a full backup, which a bucket on
 * another machine does not; confined, each side has its own CPU, as with a remote server
 * (a small one: one core).
 */
async function splitCoresPart(runtime: ChildRuntime, s3: BenchS3, db: string, bytes: number): Promise<void> {
  const title = `Full backup with the S3 server on its own core (${(bytes / MiB).toFixed(0)} MiB, median of ${ROUNDS})`;
  const cores = availableParallelism();
  if (cores < 2) {
    say(`### ${title}\n\nNot measured: needs at least 2 cores.\n`);
    return;
  }
  const serverCpu = String(cores - 1);
  const clientCpus = cores === 2 ? '0' : `0-${cores - 2}`;
  const bucket = 'split';
  await s3.ensureBucket(bucket);
  const store: StoreSpec = { kind: 's3', s3: s3.config(bucket) };
  const plain: ChildResult[] = [];
  const full: ChildResult[] = [];
  await s3.pin(serverCpu);
  try {
    for (let r = 0; r < ROUNDS; r++) {
      await warm(db);
      plain.push(await runChild(runtime, { op: 'put', file: db, store, name: 'plain' }, s3.serverPids, clientCpus));
      await s3.empty(bucket);
      const dir = join(work, `split-${r}`);
      await warm(db);
      full.push(await runChild(runtime, { op: 'backup', db, work: dir, store }, s3.serverPids, clientCpus));
      cleanup(dir);
      await s3.empty(bucket);
    }
  } finally {
    await s3.pin(`0-${cores - 1}`);
  }
  const plainMs = medianOf(plain);
  const fullMs = medianOf(full);
  const snapMs = medianOf(full, (x) => x.snapshotMs ?? NaN);
  const fullPct = (mbps(bytes, fullMs) / mbps(bytes, plainMs)) * 100;
  say(
    table(
      title,
      ['what', 'seconds', 'MB/s', 'peak RSS MB', 'client CPU s', 'S3 server CPU s', '% of upload ceiling'],
      [
        [
          'plain multipart upload of the same bytes, parts streamed from the file (the ceiling)',
          sec(plainMs),
          mbps(bytes, plainMs),
          rss(peak(plain)),
          medianOf(plain, (x) => x.opCpuS ?? NaN),
          medianOf(plain, (x) => x.serverCpuS),
          '100%',
        ],
        ['Lifeboat, of which snapshot', sec(snapMs), mbps(bytes, snapMs), '', '', '', ''],
        [
          '**Lifeboat full backup** (snapshot + check + local file + encrypt + multipart upload + retention)',
          sec(fullMs),
          mbps(bytes, fullMs),
          rss(peak(full)),
          medianOf(full, (x) => x.opCpuS ?? NaN),
          medianOf(full, (x) => x.serverCpuS),
          `**${fullPct.toFixed(0)}%**`,
        ],
      ],
      [
        `radosgw and its OSD run on core ${serverCpu} only, the measured process on ` +
          `core${clientCpus.length > 1 ? 's' : ''} ${clientCpus} only (taskset). The other stages (snapshot, ` +
          `cipher) are each faster than this upload, so the upload is the slowest stage here.`,
      ],
    ),
  );
  summary.push({
    target: `  the same with the S3 server on its own core (as a remote server would be)`,
    measured: `${fullPct.toFixed(1)}% (${mbps(bytes, fullMs).toFixed(0)} of ${mbps(bytes, plainMs).toFixed(0)} MB/s)`,
    verdict: fullPct >= TARGET_BACKUP_PCT ? 'met' : 'missed',
  });
}

/** Peak RSS and speed of the same backup with other S3 part sizes / parallel parts (the memory knob). */
async function partSizesPart(runtime: ChildRuntime, s3: BenchS3, db: string, bytes: number): Promise<void> {
  const bucket = 'parts';
  await s3.ensureBucket(bucket);
  const variants = [
    { part: 16, queue: 4, label: '16 MiB × 4 (default)' },
    { part: 16, queue: 2, label: '16 MiB × 2' },
    { part: 16, queue: 8, label: '16 MiB × 8' },
    { part: 64, queue: 4, label: '64 MiB × 4' },
  ];
  const rows: Cell[][] = [];
  const results = variants.map(() => [] as ChildResult[]);
  for (let r = 0; r < Math.min(ROUNDS, 2); r++) {
    for (const [i, v] of variants.entries()) {
      const dir = join(work, `parts-${i}`);
      await warm(db);
      results[i]!.push(
        await runChild(
          runtime,
          {
            op: 'backup',
            db,
            work: dir,
            store: { kind: 's3', s3: s3.config(bucket), partMiB: v.part, queue: v.queue },
          },
          s3.serverPids,
        ),
      );
      cleanup(dir);
      await s3.empty(bucket);
    }
  }
  for (const [i, v] of variants.entries()) {
    const xs = results[i]!;
    const ms = median(xs.map((x) => x.ms));
    rows.push([v.label, sec(ms), mbps(bytes, ms), rss(Math.max(...xs.map((x) => x.maxRss)))]);
  }
  say(
    table(
      `Full backup to S3 by multipart settings (part size × parts in ` +
        `flight; ${(bytes / MiB).toFixed(0)} MiB, median of ${Math.min(ROUNDS, 2)})`,
      ['part size × parallel parts', 'seconds', 'MB/s', 'peak RSS MB'],
      rows,
      [
        'Parts are streamed from the backup file and encrypted as they are sent, so memory does not grow with the ' +
          'part size (about 0.5 MiB of buffers per part in flight: two 256 KiB batches); a failed part is sent again ' +
          'whole, so large parts cost more on a flaky link. S3 allows at ' +
          'most 10,000 parts; larger objects get larger parts automatically.',
      ],
    ),
  );
}

// ---------------------------------------------------------------------------------------
// 4. Peak RSS by database size
async function rssPart(runtime: ChildRuntime, s3: BenchS3 | undefined, mainDb: string): Promise<void> {
  const sizes = [1, ...RSS_SIZES.filter((s) => s !== 1)];
  // Peaks vary from run to run (when V8 and malloc give memory back): the verdict goes by the
  // highest of a few runs, not by a lucky one.
  const rounds = Math.min(ROUNDS, 3);
  const rows: Cell[][] = [];
  const peaks: Record<string, Array<{ size: number; rss: number }>> = { local: [], s3: [] };
  const bucket = 'rss';
  if (s3) await s3.ensureBucket(bucket);
  const s3Limit = s3 ? s3LimitBytes : 0;
  const spread = (xs: ChildResult[]): Cell[] => [rss(peak(xs)), rss(medianOf(xs, (x) => x.maxRss)), sec(medianOf(xs))];
  for (const size of sizes) {
    const db = size === SIZE_MIB ? mainDb : join(work, `rss-${size}.db`);
    if (db !== mainDb) {
      note(`building a ${size} MiB database`);
      buildDb(db, size);
    }
    const bytes = statSync(db).size;
    const label = size === 1 ? '1 MiB (baseline: Node, modules, worker thread)' : `${(bytes / MiB).toFixed(0)} MiB`;
    const local: ChildResult[] = [];
    const remote: ChildResult[] = [];
    // memstore holds the object in the OSD's RAM (≈ 2× its size): only when it fits.
    const needed = 2.5 * bytes + GiB;
    const s3Fits = s3 !== undefined && bytes * 1.1 <= s3Limit && memAvailable() >= needed;
    for (let r = 0; r < rounds; r++) {
      await warm(db);
      local.push(
        await runChild(runtime, {
          op: 'backup',
          db,
          work: join(work, 'rss-w'),
          store: { kind: 'local', dir: join(work, 'rss-w', 'offsite') },
        }),
      );
      cleanup(join(work, 'rss-w'));
      if (s3 && s3Fits) {
        await warm(db);
        remote.push(
          await runChild(
            runtime,
            { op: 'backup', db, work: join(work, 'rss-w'), store: { kind: 's3', s3: s3.config(bucket) } },
            s3.serverPids,
          ),
        );
        cleanup(join(work, 'rss-w'));
        await s3.empty(bucket);
      }
    }
    if (size === SIZE_MIB) backupMs.local = medianOf(local);
    peaks.local!.push({ size, rss: peak(local) });
    let s3Cells: Cell[] = ['not run (--skip-s3)', '', ''];
    if (s3 && !s3Fits)
      s3Cells = [
        `not run: radosgw's memstore would need ≈ ${(needed / GiB).toFixed(1)} ` +
          `GiB of free RAM (${(memAvailable() / GiB).toFixed(1)} GiB available)`,
        '',
        '',
      ];
    if (remote.length > 0) {
      peaks.s3!.push({ size, rss: peak(remote) });
      s3Cells = spread(remote);
    }
    rows.push([label, ...spread(local), ...s3Cells]);
    if (db !== mainDb) cleanup(db);
  }
  const growth = (xs: Array<{ size: number; rss: number }>) => {
    const small = xs.find((x) => x.size !== 1);
    const big = xs[xs.length - 1];
    return small && big && big !== small
      ? `${rss(big.rss - small.rss).toFixed(1)} MB from ${small.size} to ${big.size} MiB`
      : 'n/a';
  };
  say(
    table(
      `Peak RSS of one backup run (snapshot + check + local file ` +
        `+ encrypted push), by database size (${rounds} runs each)`,
      [
        'database',
        'local folder: highest peak RSS MB',
        'median',
        'seconds',
        'S3 (radosgw): highest peak RSS MB',
        'median',
        'seconds',
      ],
      rows,
      [
        `Each run is its own process (compiled JavaScript as ` +
          `shipped${runtime.kind === 'tsx' ? '; here run through tsx, which adds its own ~30 MB' : ''}); ` +
          `peak RSS is GNU time's "Maximum resident set size", the highest of ${rounds} runs and their median. ` +
          `Growth of the highest peak with size: local folder ${growth(peaks.local!)}; S3 ${growth(peaks.s3!)}.`,
      ],
    ),
  );
  const at = (xs: Array<{ size: number; rss: number }>) => xs.filter((x) => x.size !== 1).pop();
  const l = at(peaks.local!);
  const s = at(peaks.s3!);
  const verdict = (x: { rss: number } | undefined) =>
    x ? (rss(x.rss) < TARGET_RSS_MB ? 'met' : 'missed') : 'not measured';
  if (s)
    summary.push({
      target: `peak RSS < ${TARGET_RSS_MB} MB at ${s.size} MiB, backup to S3 (highest of ${rounds} runs)`,
      measured: `${rss(s.rss).toFixed(0)} MB`,
      verdict: verdict(s),
    });
  if (l)
    summary.push({
      target:
        `peak RSS < ${TARGET_RSS_MB} MB at ${l.size} MiB, ` +
        `encrypted backup to a local folder (highest of ${rounds} runs)`,
      measured: `${rss(l.rss).toFixed(0)} MB`,
      verdict: verdict(l),
    });
}

// ---------------------------------------------------------------------------------------
// 5. Writer latency
async function latencyPart(runtime: ChildRuntime, s3: BenchS3 | undefined, db: string): Promise<void> {
  const phases: Array<{ name: string; label: string; idleMs: number; during: () => Promise<unknown> }> = [];
  if (s3) {
    await s3.ensureBucket('latency');
    phases.push({
      name: 's3',
      label: 'full backup to S3',
      idleMs: backupMs.s3 ?? 10_000,
      during: async () => {
        await runChild(runtime, {
          op: 'backup',
          db,
          work: join(work, 'lat-s3'),
          store: { kind: 's3', s3: s3.config('latency') },
        });
        cleanup(join(work, 'lat-s3'));
      },
    });
  }
  phases.push({
    name: 'local',
    label: 'encrypted backup to a local folder',
    idleMs: backupMs.local ?? 10_000,
    during: async () => {
      await runChild(runtime, {
        op: 'backup',
        db,
        work: join(work, 'lat-local'),
        store: { kind: 'local', dir: join(work, 'lat-local', 'offsite') },
      });
      cleanup(join(work, 'lat-local'));
    },
  });
  const TAIL_MS = 1000;
  const results = await writerLatency(db, WRITER_RATE, phases, TAIL_MS);
  if (s3) await s3.empty('latency');
  const us = (ms: number) => ms * 1000;
  const row = (label: string, w: WindowStats, idle?: WindowStats): Cell[] => [
    label,
    w.seconds,
    w.commits,
    us(w.p50Ms),
    us(w.p99Ms),
    us(w.maxMs),
    w.lateMs,
    idle ? `${ratio(w.p99Ms, idle.p99Ms)}×` : '',
  ];
  const rows: Cell[][] = [];
  for (const [i, p] of phases.entries()) {
    const { idle, busy } = results[i]!;
    rows.push(
      row(`idle, before the ${p.label}`, idle),
      row(`during the ${p.label} (+${TAIL_MS / 1000} s after)`, busy, idle),
    );
    summary.push({
      target: `writer p99 during a backup ≤ ${TARGET_P99_RATIO}× idle (${p.label})`,
      measured:
        `${ratio(busy.p99Ms, idle.p99Ms)}× (${us(idle.p99Ms).toFixed(0)} ` +
        `→ ${us(busy.p99Ms).toFixed(0)} µs; max ${us(busy.maxMs).toFixed(0)} µs)`,
      verdict: busy.p99Ms <= TARGET_P99_RATIO * idle.p99Ms ? 'met' : 'missed',
    });
  }
  say(
    table(
      `Commit latency of a concurrent writer process (${WRITER_RATE} ` +
        `transfers/s, two UPDATEs per transaction, WAL, synchronous=NORMAL)`,
      ['window', 'seconds', 'commits', 'p50 µs', 'p99 µs', 'max µs', 'worst delay behind schedule ms', 'p99 vs idle'],
      rows,
      [
        'Latency is the duration of each transaction (BEGIN … COMMIT) in the writer process. "Delay behind schedule" ' +
          'is how late the writer started its most delayed commit (its own ' +
          'process starved of CPU), which a per-commit duration does not show.',
      ],
    ),
  );
}

// ---------------------------------------------------------------------------------------
// 6. Peers
async function peersPart(
  runtime: ChildRuntime,
  s3: BenchS3 | undefined,
  db: string,
  bytes: number,
  missing: readonly string[],
): Promise<void> {
  const targets: Array<{ label: string; s3: boolean }> = [{ label: 'local folder', s3: false }];
  if (s3) targets.push({ label: 'local S3 server', s3: true });
  for (const t of targets) {
    type Run = { ms: number; maxRss: number; pushMs?: number };
    const tools: Array<{ name: string; run: (round: number) => Promise<Run> }> = [];
    const lbBucket = 'peer-lifeboat';
    if (s3 && t.s3) for (const b of [lbBucket, 'peer-restic', 'peer-rclone']) await s3.ensureBucket(b);
    tools.push({
      name: '**Lifeboat** backup (snapshot + check + local file + encrypted push)',
      run: async (round) => {
        const dir = join(work, `peer-lb-${round}`);
        const store: StoreSpec =
          t.s3 && s3 ? { kind: 's3', s3: s3.config(lbBucket) } : { kind: 'local', dir: join(dir, 'offsite') };
        const r = await runChild(runtime, { op: 'backup', db, work: dir, store });
        cleanup(dir);
        if (t.s3 && s3) await s3.empty(lbBucket);
        return r;
      },
    });
    const target = (bucket: string) =>
      t.s3 && s3
        ? { endpoint: s3.endpoint, accessKey: s3.gw.accessKey, secretKey: s3.gw.secretKey, bucket }
        : undefined;
    const measured = (m: Measured): Run => ({ ms: m.ms, maxRss: m.maxRss });
    const peers = [
      {
        tool: 'restic',
        name: '`restic backup` (encrypted, deduplicated, compressed repository)',
        backup: resticBackup,
      },
      { tool: 'rclone', name: '`rclone copy` through a `crypt` remote', backup: rcloneCopy },
    ] as const;
    for (const peer of peers) {
      if (missing.includes(peer.tool)) continue;
      tools.push({
        name: peer.name,
        run: async (round) => {
          const r = measured(await peer.backup(db, work, `r${round}`, target(`peer-${peer.tool}`)));
          cleanup(join(work, `${peer.tool}-r${round}`));
          if (t.s3 && s3) await s3.empty(`peer-${peer.tool}`);
          return r;
        },
      });
    }
    const runs = tools.map(() => [] as Run[]);
    for (let r = 0; r < PEER_ROUNDS; r++) {
      for (const [i, tool] of tools.entries()) {
        await warm(db);
        runs[i]!.push(await tool.run(r));
      }
    }
    const med = runs.map((xs) => median(xs.map((x) => x.ms)));
    const peak = runs.map((xs) => Math.max(...xs.map((x) => x.maxRss)));
    const rows: Cell[][] = tools.map((tool, i) => [
      tool.name,
      sec(med[i]!),
      mbps(bytes, med[i]!),
      rss(peak[i]!),
      i === 0 ? '1.00' : ratio(med[0]!, med[i]!),
      i === 0 ? '1.00' : ratio(peak[0]!, peak[i]!),
    ]);
    const push = median(runs[0]!.map((x) => x.pushMs ?? NaN));
    rows.splice(1, 0, ['  Lifeboat, of which the encrypted push alone', sec(push), mbps(bytes, push), '', '', '']);
    say(
      table(
        `The same job with the tools users reach for instead: ${(bytes / MiB).toFixed(0)} ` +
          `MiB database, encrypted, to a ${t.label} (median of ${PEER_ROUNDS})`,
        ['tool', 'seconds', 'MB/s', 'peak RSS MB', 'Lifeboat time ÷ tool time', 'Lifeboat RSS ÷ tool RSS'],
        rows,
        [
          'restic and rclone copy the file as it is on disk: neither takes a consistent snapshot of a live SQLite ' +
            'database (a copy taken while the application writes can be torn) nor checks it, ' +
            'and neither keeps a plain local copy; Lifeboat does all three before its push.' +
            (t.s3 ? '' : ' rclone does not fsync what it writes to a local folder; restic and Lifeboat do.'),
        ],
      ),
    );
  }
}

// ---------------------------------------------------------------------------------------
let s3LimitBytes = 0;

async function main(): Promise<void> {
  const started = Date.now();
  // rclone is also the independent client a restore is compared with (part 3).
  const missing = await ensureCommands(
    opts['skip-peers'] ? ['sqlite3', 'rclone'] : ['sqlite3', 'restic', 'rclone'],
    note,
  );
  const machine = await describeMachine(work);
  let runtime: ChildRuntime;
  if (opts.tsx) runtime = tsxRuntime();
  else {
    note('compiling src/ for the measured child processes (tsc)');
    runtime = await compileForChildren(join(work, 'build'), note);
  }

  const db = join(work, 'bench.db');
  note(`building a ${SIZE_MIB} MiB database in ${work}`);
  const rows = buildDb(db, SIZE_MIB);
  const bytes = statSync(db).size;
  note(`${rows} rows, ${(bytes / MiB).toFixed(0)} MiB`);

  say(`## Results (${new Date().toISOString().slice(0, 10)}, database ${(bytes / MiB).toFixed(0)} MiB)`);
  say('');
  say(
    `Produced by \`npm run bench -- ${process.argv
      .slice(2)
      .filter((a) => a !== '--write-doc')
      .join(' ')}\`. MB = 10^6 bytes; "peak RSS" is the measured process's maximum resident set size. Machine:`,
  );
  say('');
  for (const line of machine) say(line);
  say(
    `- Database: ${rows.toLocaleString('en')} rows (two thirds small rows, one third with a ~1 ` +
      `KiB blob, one index), ${(bytes / MiB).toFixed(0)} MiB, 4 KiB pages, WAL mode, checkpointed`,
  );
  const measured =
    runtime.kind === 'compiled'
      ? 'compiled JavaScript (tsc output, as `npm run build` ships it)'
      : 'through tsx (--tsx)';
  say(`- Measured processes run ${measured}.`);
  say('');

  let snapshotMs = NaN;
  if (PARTS.has('snapshot')) {
    await part('1. snapshot', async () => {
      snapshotMs = await snapshotPart(runtime, db, bytes, !missing.includes('sqlite3'));
    });
  }

  let s3: BenchS3 | undefined;
  try {
    const needS3 = ['s3', 'split', 'multipart', 'rss', 'latency', 'pitr', 'peers'].some((p) => PARTS.has(p));
    if (!opts['skip-s3'] && needS3) {
      const biggest = Math.max(SIZE_MIB, ...RSS_SIZES) * MiB;
      s3LimitBytes = Math.ceil(biggest * 1.15 + GiB);
      note(
        `starting radosgw (memstore capacity ${(s3LimitBytes / GiB).toFixed(1)} GiB, used only as objects are stored)`,
      );
      s3 = await startBenchS3(s3LimitBytes);
      note(`radosgw ready on ${s3.endpoint} in ${(s3.gw.startupMs / 1000).toFixed(0)} s`);
      const server = s3;
      if (PARTS.has('s3'))
        await part('2-3. full backup and restore through S3', () =>
          s3Part(runtime, server, db, bytes, snapshotMs, !missing.includes('rclone')),
        );
      if (PARTS.has('split'))
        await part('2c. S3 server on its own core', () => splitCoresPart(runtime, server, db, bytes));
      if (PARTS.has('multipart'))
        await part('2b. S3 multipart settings', () => partSizesPart(runtime, server, db, bytes));
    } else if (opts['skip-s3']) {
      say('### Full backup and restore through S3\n\nNot measured (--skip-s3).\n');
    }
    if (PARTS.has('rss')) await part('4. peak RSS by size', () => rssPart(runtime, s3, db));
    if (PARTS.has('latency')) await part('5. writer latency', () => latencyPart(runtime, s3, db));
    if (PARTS.has('pitr')) {
      const server = s3;
      if (server)
        await part('7. continuous backup', () =>
          pitrPart({
            runtime,
            s3: server,
            db,
            work,
            rate: WRITER_RATE,
            seconds: Number(opts['pitr-seconds']),
            idleSeconds: Number(opts['pitr-idle-seconds']),
            ...(opts['pitr-rebase-ratio'] ? { rebaseRatio: Number(opts['pitr-rebase-ratio']) } : {}),
            rounds: ROUNDS,
            say,
            note,
            summary,
          }),
        );
      else say('### Continuous backup\n\nNot measured: it needs the S3 server (--skip-s3).\n');
    }
    if (!opts['skip-peers'] && PARTS.has('peers'))
      await part('6. peers', () => peersPart(runtime, s3, db, bytes, missing));
  } finally {
    await s3?.stop();
  }

  say(
    table(
      'Targets',
      ['target', 'measured', 'verdict'],
      summary.map((s) => [s.target, s.measured, s.verdict === 'missed' ? '**missed**' : s.verdict]),
    ),
  );
  say(
    `Load average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}. Whole run: ${((Date.now() - started) / 60000).toFixed(0)} min.`,
  );
  say('');

  if (opts['write-doc']) {
    const docPath = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
    const doc = readFileSync(docPath, 'utf8');
    const marker = '<!-- results -->';
    const head = doc.includes(marker)
      ? doc.slice(0, doc.indexOf(marker) + marker.length)
      : `${doc.trimEnd()}\n\n${marker}`;
    writeFileSync(docPath, `${head}\n\n${out.join('\n').trimEnd()}\n`);
    note(`wrote the results into ${docPath}`);
  }
}

try {
  await main();
} finally {
  if (opts.keep) note(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
