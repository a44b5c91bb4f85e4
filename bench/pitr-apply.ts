// Point-in-time restore's apply phase on real WAL frames, in one process, no S3:
//   node --import tsx bench/pitr-apply.ts [--tx 20000] [--base-rows 20000] [--rounds 3]
//     [--workload insert|transfer|accounts] [--profile out.cpuprofile]
// A database of `base-rows` rows (the kill runs' row shapes: blobs of 200–6,200 bytes) is the base;
// `tx` more commits — single-row inserts; with `transfer` two UPDATEs of random rows; with
// `accounts` two UPDATEs of a 10,000-row table of balances, as bench/writer.ts commits — are read
// from its WAL by capture's tail and sealed into segments
// (16 MiB, brotli, encrypted) in an in-memory bucket (test/support/memory-pitr-store.ts, which
// copies and hashes each object it serves). Each round restores the base alone and then the latest
// transaction; the difference is the apply: decode, SQLite's checksums, the rolling checksum (at
// each segment's end), the page writes. Prints one line per round and exits; `--profile` writes a CPU
// profile of the last round's restore to the latest transaction alone.
import { copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeBase } from '../src/pitr/base-object.js';
import { type ChainState, type PendingTransaction, sealTransactions } from '../src/pitr/capture/segmenter.js';
import { awaitingEpoch, readCommitted, type WalPosition } from '../src/pitr/capture/wal-tail.js';
import { newDbId, newGenId } from '../src/pitr/names.js';
import { restorePitr } from '../src/pitr/restore/apply.js';
import { RollingChecksum } from '../src/pitr/rolling.js';
import Database from '../src/sqlite/driver.js';
import { KEY_A, keySet } from '../test/pitr/fixtures.js';
import { MemoryPitrStore } from '../test/support/memory-pitr-store.js';

const { values } = parseArgs({
  options: {
    tx: { type: 'string', default: '20000' },
    'base-rows': { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '3' },
    workload: { type: 'string', default: 'insert' },
    profile: { type: 'string' },
  },
});
if (!['insert', 'transfer', 'accounts'].includes(values.workload)) {
  throw new Error('--workload is insert, transfer or accounts');
}
const txCount = Number(values.tx);
const baseRows = Number(values['base-rows']);
const PAGE = 4096;
const dir = mkdtempSync(join(tmpdir(), 'lifeboat-apply-'));
try {
  const path = join(dir, 'app.sqlite');
  const app = new Database(path);
  app.pragma('journal_mode = WAL');
  app.pragma('wal_autocheckpoint = 0');
  app.exec('CREATE TABLE log (k INTEGER PRIMARY KEY, pad BLOB)');
  app.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)');
  app.exec(
    'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) ' +
      'INSERT INTO accounts SELECT i, 1000 FROM n',
  );
  const insert = app.prepare('INSERT INTO log (k, pad) VALUES (?, randomblob(?))');
  app.transaction(() => {
    for (let k = 1; k <= baseRows; k++) insert.run(k, 200 + (k % 5) * 1500);
  })();
  app.pragma('wal_checkpoint(TRUNCATE)');
  const basePath = join(dir, 'base.sqlite');
  copyFileSync(path, basePath);
  const image = readFileSync(basePath);
  const rolling = RollingChecksum.fromDatabaseImage(image, PAGE);
  const dbId = newDbId();
  const genId = newGenId(Date.now());
  const store = new MemoryPitrStore();
  const fields = { dbId, genId, txid: 1000, observedMs: 1000, pageSize: PAGE, rolling: rolling.value() };
  const base = await writeBase(store, KEY_A, basePath, { ...fields, afterSeq: 0, chainDigest: Buffer.alloc(32) });

  const reader = new Database(path);
  reader.exec('BEGIN');
  reader.prepare('SELECT 1 FROM sqlite_schema LIMIT 1').get(); // capture's pin: the WAL does not restart
  if (values.workload === 'insert') {
    for (let k = baseRows + 1; k <= baseRows + txCount; k++) insert.run(k, 200 + (k % 5) * 1500);
  } else {
    // Two UPDATEs of random rows per commit: of the balances, or of the blob rows themselves.
    const [sql, rows] =
      values.workload === 'accounts'
        ? ['UPDATE accounts SET balance = balance + 1 WHERE id = ?', 10_000]
        : ['UPDATE log SET k = k WHERE k = ?', baseRows];
    const update = app.prepare(sql);
    const transfer = app.transaction((a: number, b: number) => {
      update.run(a);
      update.run(b);
    });
    const row = () => 1 + Math.floor(Math.random() * rows);
    for (let n = 0; n < txCount; n++) transfer(row(), row());
  }
  const fd = openSync(`${path}-wal`, 'r');
  let scan: WalPosition = awaitingEpoch();
  const pending: PendingTransaction[] = [];
  for (;;) {
    const got = readCommitted(fd, scan);
    if (got.kind === 'restart') {
      scan = got.position;
      continue;
    }
    if (got.kind !== 'commits') throw new Error(`the WAL did not read: ${got.reason}`);
    for (const tx of got.transactions) pending.push({ tx, observedMs: 2000 });
    break;
  }
  const chain: ChainState = {
    ...fields,
    seq: 0,
    prevDigest: base.digest,
    rolling,
    position: awaitingEpoch(),
    dbPages: image.length / PAGE,
    lastObservedMs: 1000,
  };
  const sealed = await sealTransactions(fd, chain, pending, KEY_A, 16 * 1024 * 1024);
  for (const s of sealed) store.objects.set(s.name, s.ciphertext);
  const MiB = 1024 * 1024;
  const segmentBytes = sealed.reduce((n, s) => n + s.ciphertext.length, 0);
  process.stdout.write(
    `base ${(image.length / MiB).toFixed(0)} MiB; ${pending.length} transactions in ${sealed.length} segments ` +
      `(${(segmentBytes / MiB).toFixed(1)} MiB)\n`,
  );
  const keys = keySet(KEY_A);
  for (let round = 0; round < Number(values.rounds); round++) {
    const timed = async (target: Parameters<typeof restorePitr>[0]['target'], file: string) => {
      const t = performance.now();
      await restorePitr({ store, keys, dbId, target, path: join(dir, file) });
      rmSync(join(dir, file));
      return performance.now() - t;
    };
    const baseMs = await timed({ kind: 'txid', txid: 1000 }, `base-${round}.sqlite`);
    const session = values.profile !== undefined && round === Number(values.rounds) - 1 ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    const latestMs = await timed({ kind: 'latest' }, `latest-${round}.sqlite`);
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(values.profile!, JSON.stringify(profile));
      session.disconnect();
    }
    const applyMs = latestMs - baseMs;
    process.stdout.write(
      `round ${round + 1}: base alone ${baseMs.toFixed(0)} ms, latest ${latestMs.toFixed(0)} ms, apply ` +
        `${applyMs.toFixed(0)} ms = ${Math.round(pending.length / (applyMs / 1000))} transactions/s\n`,
    );
  }
  reader.close();
  app.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
