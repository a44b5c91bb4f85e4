// `npm run bench -- [--size-mib 1024] [--rss-sizes 256,1024,4096] [--skip-peers] [--skip-s3] [--write-doc]`
// Measures Lifeboat end to end against the machine's limits and the tools users would pick
// instead, all in one run, and prints markdown tables (optionally into docs/benchmarks.md).
import { spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from '../src/sqlite/driver.js';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { snapshotDatabase } from '../src/snapshot/snapshot.js';
import { createKeySet } from '../src/crypto/keys.js';
import { silentLogger } from '../src/log.js';
import { restoreDatabase } from '../src/restore/restore.js';
import { createS3Store } from '../src/storage/s3.js';
import type { S3Config } from '../src/config/types.js';
import { startRadosGw, type RadosGw } from '../test/support/radosgw.js';
import { benchCrypto } from './crypto.js';
import { buildDb } from './lib/db.js';
import { mbps, measureCommand, MiB, percentile, run, table } from './lib/util.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const flag = (name: string) => process.argv.includes(`--${name}`);
const SIZE = Number(arg('size-mib', '1024'));
const RSS_SIZES = arg('rss-sizes', '256,1024,4096').split(',').map(Number);
const TSX = import.meta.resolve('tsx');
const CHILD = fileURLToPath(new URL('./child-backup.ts', import.meta.url));
const WRITER = fileURLToPath(new URL('./writer.ts', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'lifeboat-bench-'));
const out: string[] = [];
const say = (s: string) => {
  process.stdout.write(`${s}\n`);
  out.push(s);
};
const note = (s: string) => process.stderr.write(`bench: ${s}\n`);

async function ensurePeers(): Promise<void> {
  const missing = ['sqlite3', 'restic', 'rclone'].filter((b) => {
    try {
      statSync(`/usr/bin/${b}`);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return;
  note(`installing ${missing.join(', ')} from Debian (apt-get) for the comparison`);
  await run('apt-get', ['install', '-y', '-qq', ...missing], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

async function childBackup(db: string, dir: string, s3?: S3Config): Promise<{ ms: number; snapshotMs: number; pushMs: number; maxRssMiB: number; bytes: number; name: string }> {
  // Peak RSS from GNU time, not from the child itself: on Linux a process forked from this
  // (large) one inherits its RSS high-water mark, which would hide the child's own peak.
  const res = await measureCommand(process.execPath, ['--import', TSX, CHILD, db, dir, ...(s3 ? [JSON.stringify(s3)] : [])]);
  const report = JSON.parse(res.stdout.trim().split('\n').pop()!) as { ms: number; snapshotMs: number; pushMs: number; bytes: number; name: string };
  return { ...report, maxRssMiB: res.maxRssMiB };
}

async function writerLatencies(db: string, during: () => Promise<unknown>): Promise<{ idle: number[]; busy: number[] }> {
  const child = spawn(process.execPath, ['--import', TSX, WRITER, db], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = '';
  const lines: string[] = [];
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  const waitLine = async (prefix: string) => {
    for (;;) {
      const found = lines.find((l) => l.startsWith(prefix));
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await waitLine('ready');
  // An idle window (3 s of measurement time, not synchronisation), then the backup.
  child.stdin.write('mark idle\n');
  await new Promise((r) => setTimeout(r, 3000));
  child.stdin.write('mark busy\n');
  await during();
  child.stdin.write('stop\n');
  return JSON.parse(await waitLine('{')) as { idle: number[]; busy: number[] };
}

const gwHolder: { gw?: RadosGw } = {};

async function main(): Promise<void> {
  const started = Date.now();
  say(`## Results (${new Date().toISOString().slice(0, 10)}, database ${SIZE} MiB)`);
  say('');
  say(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, SQLite ${(new Database(':memory:').prepare('select sqlite_version() v').get() as { v: string }).v}.`);
  say('');
  if (!flag('skip-peers')) await ensurePeers();

  const db = join(work, 'bench.db');
  note(`building a ${SIZE} MiB database`);
  const rows = buildDb(db, SIZE);
  const bytes = statSync(db).size;
  note(`${rows} rows, ${(bytes / MiB).toFixed(0)} MiB`);

  // 1. Snapshot vs cp vs sqlite3 .backup vs VACUUM INTO
  const snapRows: Array<[string, number, number, string]> = [];
  const add = (what: string, ms: number, ref?: number) => snapRows.push([what, ms / 1000, mbps(bytes, ms), ref ? `${((ref / ms) * 100).toFixed(0)}%` : '']);
  readFileSync(db); // warm the page cache once
  const cp = await measureCommand('cp', [db, join(work, 'cp.db')]);
  const cpSync = await measureCommand('sh', ['-c', `cp ${db} ${join(work, 'cp2.db')} && sync ${join(work, 'cp2.db')}`]);
  add('cp (page cache warm)', cp.ms);
  add('cp + sync', cpSync.ms);
  let sqliteBackup = NaN;
  try {
    sqliteBackup = (await measureCommand('sqlite3', [db, `.backup ${join(work, 'sq.db')}`])).ms;
    add('sqlite3 .backup', sqliteBackup, cpSync.ms);
  } catch (err) {
    note(`sqlite3 .backup failed: ${(err as Error).message}`);
  }
  const vac = await measureCommand('sqlite3', [db, `VACUUM INTO '${join(work, 'vac.db')}'`]).catch(() => undefined);
  if (vac) add("VACUUM INTO (Hiqlite's way, sqlite3 CLI)", vac.ms, cpSync.ms);
  for (const check of ['none', 'quick'] as const) {
    let best = Infinity;
    for (let i = 0; i < 2; i++) {
      const target = join(work, `snap-${check}.sqlite`);
      const t0 = performance.now();
      await snapshotDatabase(db, target, { check });
      best = Math.min(best, performance.now() - t0);
      rmSync(target);
    }
    add(`Lifeboat snapshot (check ${check}, fsync; best of 2)`, best, cpSync.ms);
  }
  for (const f of ['cp.db', 'cp2.db', 'sq.db', 'vac.db']) rmSync(join(work, f), { force: true });
  say(table('Snapshot of a live database', ['what', 'seconds', 'MB/s', 'vs cp + sync'], snapRows));

  // 2. Encryption
  note('encryption');
  say((await benchCrypto(SIZE)).markdown);

  // 3. Full backup to S3 vs the server's ingest ceiling; restore.
  let s3: S3Config | undefined;
  if (!flag('skip-s3')) {
    note('starting radosgw');
    const gw = await startRadosGw({ memoryBytes: Math.max(4 * 1024, SIZE * 5) * MiB });
    gwHolder.gw = gw;
    const client = new S3Client({ endpoint: gw.endpoint, region: gw.region, forcePathStyle: true, credentials: { accessKeyId: gw.accessKey, secretAccessKey: gw.secretKey }, requestChecksumCalculation: 'WHEN_REQUIRED' });
    await client.send(new CreateBucketCommand({ Bucket: 'bench' }));
    s3 = { url: gw.endpoint, bucket: 'bench', region: gw.region, pathStyle: true, key: gw.accessKey, secret: gw.secretKey, prefix: '' };
    // The server's ingest ceiling: the same bytes, same client and part settings, no
    // snapshot or encryption. Best of 2, after a warm-up upload (fresh pools are slow at first).
    await new Upload({ client, params: { Bucket: 'bench', Key: 'warm-up', Body: Buffer.alloc(32 * MiB) }, partSize: 16 * MiB, queueSize: 4 }).done();
    let ceilingMs = Infinity;
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      await new Upload({ client, params: { Bucket: 'bench', Key: `plain-ceiling-${i}`, Body: createReadStream(db) }, partSize: 16 * MiB, queueSize: 4 }).done();
      ceilingMs = Math.min(ceilingMs, performance.now() - t0);
    }
    const full = await childBackup(db, join(work, 'full'), s3);
    const s3Rows: Array<Array<string | number>> = [
      ['plain multipart upload of the same file (server ingest ceiling)', ceilingMs / 1000, mbps(bytes, ceilingMs), '100%'],
      ['Lifeboat full backup: snapshot + check + encrypt + upload', full.ms / 1000, mbps(bytes, full.ms), `${((ceilingMs / full.ms) * 100).toFixed(0)}%`],
      ['  of which snapshot + check', full.snapshotMs / 1000, mbps(bytes, full.snapshotMs), ''],
      ['  of which encrypt + upload', full.pushMs / 1000, mbps(bytes, full.pushMs), `${((ceilingMs / full.pushMs) * 100).toFixed(0)}%`],
    ];
    note('restore');
    const target = join(work, 'restore', 'hiqlite.db');
    await run('mkdir', ['-p', join(work, 'restore')]);
    const r0 = performance.now();
    await restoreDatabase({
      source: { kind: 's3', object: full.name },
      dbFile: target,
      remote: createS3Store(s3),
      keys: createKeySet([{ id: 'bench', key: Buffer.alloc(32, 7) }], 'bench'),
      skipValidation: false,
      expectTables: ['events'],
      force: true,
      logger: silentLogger(),
      now: () => new Date(),
    });
    const restoreMs = performance.now() - r0;
    s3Rows.push(['Lifeboat restore: download + decrypt + integrity_check + swap', restoreMs / 1000, mbps(bytes, restoreMs), '']);
    say(table(`Full backup and restore through the local S3 server (radosgw)`, ['what', 'seconds', 'MB/s', 'vs ceiling'], s3Rows));
    rmSync(join(work, 'restore'), { recursive: true, force: true });
    rmSync(join(work, 'full'), { recursive: true, force: true });
  }

  // 4. Peak RSS across sizes (encrypted copy to a local folder, so the server's RAM is not the limit).
  note('peak RSS series');
  const rssRows: Array<Array<string | number>> = [];
  {
    // Warm-up (tsx's transpile cache), and the baseline: the same process on a tiny database.
    const path = join(work, 'rss-tiny.db');
    buildDb(path, 1);
    await childBackup(path, join(work, 'rss-tiny'));
    const r = await childBackup(path, join(work, 'rss-tiny2'));
    rssRows.push(['1 MiB (baseline: Node, modules, worker thread)', r.maxRssMiB, r.ms / 1000, '']);
  }
  for (const size of RSS_SIZES) {
    const path = join(work, `rss-${size}.db`);
    buildDb(path, size);
    const r = await childBackup(path, join(work, `rss-${size}`));
    rssRows.push([`${size} MiB`, r.maxRssMiB, r.ms / 1000, mbps(statSync(path).size, r.ms)]);
    rmSync(path, { force: true });
    rmSync(join(work, `rss-${size}`), { recursive: true, force: true });
  }
  say(table('Peak RSS of one backup run (snapshot + check + encrypted copy), by database size', ['database', 'peak RSS MiB', 'seconds', 'MB/s'], rssRows));

  // 5. Writer latency while a backup runs vs idle.
  note('writer latency');
  const lat = await writerLatencies(db, () => childBackup(db, join(work, 'lat'), s3));
  const row = (name: string, xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return [name, s.length, percentile(s, 50) * 1000, percentile(s, 99) * 1000, (s[s.length - 1] ?? NaN) * 1000];
  };
  const idleP99 = percentile([...lat.idle].sort((a, b) => a - b), 99);
  const busyP99 = percentile([...lat.busy].sort((a, b) => a - b), 99);
  say(table('Commit latency (µs) of a concurrent writer process (one UPDATE per transaction, WAL, synchronous=NORMAL)', ['window', 'commits', 'p50 µs', 'p99 µs', 'max µs'], [row('idle (3 s)', lat.idle), row(`during a full backup${s3 ? ' to S3' : ''}`, lat.busy), ['p99 ratio busy/idle', '', '', busyP99 / idleP99, '']]));

  // 6. Peers: restic and rclone (crypt) doing the same job.
  if (!flag('skip-peers')) {
    note('peers');
    const peerRows: Array<Array<string | number>> = [];
    const lbLocal = await measureCommand(process.execPath, ['--import', TSX, CHILD, db, join(work, 'peer-lb')]);
    peerRows.push(['Lifeboat (snapshot + encrypted copy to a folder)', lbLocal.ms / 1000, lbLocal.maxRssMiB, '1.00']);
    const env = { ...process.env, RESTIC_PASSWORD: 'bench-password', RESTIC_CACHE_DIR: join(work, 'restic-cache') };
    await run('restic', ['init', '--repo', join(work, 'restic')], { env });
    const restic = await measureCommand('restic', ['backup', '--repo', join(work, 'restic'), '--quiet', db], env);
    peerRows.push(['restic backup (file → local repo, encrypted, deduplicated)', restic.ms / 1000, restic.maxRssMiB, (restic.ms / lbLocal.ms).toFixed(2)]);
    const obscured = (await run('rclone', ['obscure', 'bench-password'])).stdout.trim();
    const rcloneEnv = { ...process.env, RCLONE_CONFIG: join(work, 'rclone.conf'), RCLONE_CONFIG_BENCHCRYPT_TYPE: 'crypt', RCLONE_CONFIG_BENCHCRYPT_REMOTE: join(work, 'rclone-dest'), RCLONE_CONFIG_BENCHCRYPT_PASSWORD: obscured };
    writeFileSync(join(work, 'rclone.conf'), '');
    const rclone = await measureCommand('rclone', ['copy', db, 'benchcrypt:'], rcloneEnv);
    peerRows.push(['rclone copy to a crypt remote (local folder)', rclone.ms / 1000, rclone.maxRssMiB, (rclone.ms / lbLocal.ms).toFixed(2)]);
    say(table('The same job with the tools users reach for instead (encrypted copy of the database to a local folder)', ['tool', 'seconds', 'peak RSS MiB', 'time vs Lifeboat'], peerRows));
    say('Note: restic and rclone copy the file as it is; neither takes a consistent snapshot of a live SQLite database (a copy taken while it is written can be torn), which is the step Lifeboat spends its extra time on.');
    say('');
  }
  note(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);

  if (flag('write-doc')) {
    const docPath = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));
    const doc = readFileSync(docPath, 'utf8');
    const marker = '<!-- results -->';
    const head = doc.includes(marker) ? doc.slice(0, doc.indexOf(marker) + marker.length) : `${doc}\n${marker}`;
    writeFileSync(docPath, `${head}\n\n${out.join('\n')}\n`);
  }
}

try {
  await main();
} finally {
  await gwHolder.gw?.stop();
  rmSync(work, { recursive: true, force: true });
}
