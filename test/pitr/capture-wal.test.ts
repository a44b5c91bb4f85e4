import assert from 'node:assert/strict';
import { closeSync, copyFileSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type ChainState, type PendingTransaction, sealTransactions } from '../../src/pitr/capture/segmenter.js';
import { publishedWal } from '../../src/pitr/capture/wal-index.js';
import {
  awaitingEpoch,
  epochStart,
  frameOffset,
  readCommitted,
  type WalPosition,
} from '../../src/pitr/capture/wal-tail.js';
import { RollingChecksum } from '../../src/pitr/rolling.js';
import { decodeSegment, type Segment } from '../../src/pitr/segment.js';
import Database from '../../src/sqlite/driver.js';
import { walChecksum } from '../../src/sqlite/wal.js';
import { tempDir } from '../support/tmp.js';
import { applyRecords, DB_ID, GEN_ID, KEY_A, keySet } from './fixtures.js';

/**
 * Capture's WAL reading and sealing against the -wal real SQLite writes: only committed
 * transactions, one per application commit; a transaction still open (its pages spilled into
 * the WAL) is not read until it commits; a restart is followed; and the sealed segments, applied
 * to the database file as it was, give byte for byte the database SQLite has after a checkpoint.
 */

function liveDb(pageSize = 4096) {
  const dir = tempDir();
  const path = join(dir, 'app.sqlite');
  const app = new Database(path);
  app.pragma(`page_size = ${pageSize}`);
  app.pragma('journal_mode = WAL');
  app.pragma('wal_autocheckpoint = 0');
  app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
  app.pragma('wal_checkpoint(TRUNCATE)');
  // A reader, as capture holds one: no restart can happen behind its back.
  const reader = new Database(path);
  const hold = () => {
    reader.exec('BEGIN');
    reader.prepare('SELECT 1 FROM sqlite_schema LIMIT 1').get();
  };
  const release = () => reader.exec('COMMIT');
  const insert = app.prepare('INSERT INTO t (v) VALUES (randomblob(?))');
  return { dir, path, app, hold, release, insert };
}

/** Whether a segment's last record is a piece of a transaction that goes on in the next one. */
function endsInside(segment: Segment): boolean {
  const last = segment.records.at(-1);
  return last?.type === 'tx' && last.continues;
}

function commits(fd: number, from: WalPosition) {
  const got = readCommitted(fd, from);
  assert.equal(got.kind, 'commits');
  if (got.kind !== 'commits') throw new Error('unreachable');
  return got;
}

test('one transaction per application commit; an open transaction whose pages spilled is not read', () => {
  const db = liveDb();
  db.hold();
  for (let i = 0; i < 5; i++) db.insert.run(100 + i * 1000);
  const fd = openSync(`${db.path}-wal`, 'r');
  // The WAL's epoch began after the pin: expect its salts, as the wal-index announced them.
  const header = readFileSync(`${db.path}-wal`).subarray(0, 32);
  const first = readCommitted(fd, awaitingEpoch(header.subarray(16, 24)));
  assert.equal(first.kind, 'restart');
  const from = first.kind === 'restart' ? first.position : epochStart(header);
  const five = commits(fd, from);
  assert.equal(five.transactions.length, 5);
  assert.equal(five.transactions[0]!.firstFrame, 1);

  // A transaction far larger than the page cache spills frames before its commit.
  db.app.pragma('cache_size = 10');
  db.app.exec('BEGIN');
  for (let i = 0; i < 200; i++) db.insert.run(3000);
  const open = commits(fd, five.end);
  assert.ok(readFileSync(`${db.path}-wal`).length > open.end.nextFrame * 4096, 'spilled frames are in the file');
  assert.equal(open.transactions.length, 0, 'nothing before the commit');
  db.app.exec('COMMIT');
  const done = commits(fd, five.end);
  assert.equal(done.transactions.length, 1);
  assert.ok(done.transactions[0]!.lastFrame - done.transactions[0]!.firstFrame > 100);
  db.release();
});

test('a salts mismatch is waited for, and a header that does not continue the epoch breaks the chain', () => {
  const db = liveDb();
  db.hold();
  db.insert.run(10);
  const fd = openSync(`${db.path}-wal`, 'r');
  const header = readFileSync(`${db.path}-wal`).subarray(0, 32);
  assert.deepEqual(readCommitted(fd, awaitingEpoch(Buffer.alloc(8, 7))), {
    kind: 'commits',
    transactions: [],
    end: awaitingEpoch(Buffer.alloc(8, 7)),
  });
  const stranger = Buffer.from(header);
  stranger.writeUInt32BE(stranger.readUInt32BE(12) - 1, 12); // the sequence before, as a restart has…
  stranger.writeUInt32BE(stranger.readUInt32BE(16) + 7, 16); // …but not the salt-1 before
  const got = readCommitted(fd, { header: stranger, nextFrame: 1, s0: 0, s1: 0 });
  assert.equal(got.kind, 'broken');
  db.release();
});

test('a restart by another connection (its own checkpoint sequence) is followed, not taken for a new WAL', () => {
  const db = liveDb();
  db.hold(); // capture's connection attaches to the wal-index (and stays open: the app's close is not the last)
  db.release();
  // The application's first connection restarts the WAL a few times: its sequence climbs.
  for (let i = 0; i < 3; i++) {
    db.insert.run(100);
    db.app.pragma('wal_checkpoint(PASSIVE)');
  }
  db.insert.run(100);
  const fd = openSync(`${db.path}-wal`, 'r');
  const before = readFileSync(`${db.path}-wal`).subarray(0, 32);
  assert.ok(before.readUInt32BE(12) >= 2, `sequence ${before.readUInt32BE(12)} after restarts`);
  const read = commits(fd, epochStart(before));
  // The application restarts (a new connection, the old one gone) while capture's connection keeps
  // the wal-index: the new connection's first restart writes sequence 1.
  db.app.close();
  const again = new Database(db.path);
  again.pragma('wal_checkpoint(PASSIVE)');
  again.prepare('INSERT INTO t (v) VALUES (randomblob(100))').run();
  const after = readFileSync(`${db.path}-wal`).subarray(0, 32);
  assert.equal(after.readUInt32BE(12), 1, 'the new connection counts from zero');
  assert.equal(after.readUInt32BE(16), (before.readUInt32BE(16) + 1) >>> 0, 'salt-1 +1');
  const got = readCommitted(fd, read.end);
  assert.equal(got.kind, 'restart');
  if (got.kind === 'restart') assert.equal(commits(fd, got.position).transactions.length, 1);
  again.close();
});

test('committed frames the chain capture read does not reach are a broken chain, not a silent wait', () => {
  const db = liveDb();
  db.hold();
  for (let i = 0; i < 3; i++) db.insert.run(100);
  const fd = openSync(`${db.path}-wal`, 'r');
  const header = readFileSync(`${db.path}-wal`).subarray(0, 32);
  const published = publishedWal(db.path)!;
  const start = epochStart(header);
  const read = readCommitted(fd, start, undefined, published);
  assert.equal(read.kind === 'commits' && read.end.nextFrame, published.mxFrame + 1, 'the right chain reaches mxFrame');
  // A position whose running checksum is not SQLite's (capture's state gone wrong): the frames do not validate.
  const wrong = { ...start, s0: (start.s0 ^ 1) >>> 0 };
  const silent = { kind: 'commits', transactions: [], end: wrong };
  assert.deepEqual(readCommitted(fd, wrong), silent, 'by the file alone: nothing to read, for ever');
  const got = readCommitted(fd, wrong, undefined, published);
  assert.equal(got.kind, 'broken');
  if (got.kind === 'broken') assert.match(got.reason, /wal-index says WAL frames up to \d+ are committed/);
  // Caught up, but with another running checksum than the wal-index's.
  if (read.kind === 'commits') {
    const off = { ...read.end, s1: (read.end.s1 ^ 1) >>> 0 };
    const at = readCommitted(fd, off, undefined, published);
    assert.equal(at.kind === 'broken' && /running checksum/.test(at.reason), true);
  }
  db.release();
});

test('a fresh header over a WAL with no commit, before any frame was read, is followed (first epoch only)', () => {
  const db = liveDb();
  db.insert.run(100);
  db.app.pragma('wal_checkpoint(PASSIVE)'); // all backfilled: the next frame written restarts the WAL
  // A transaction that spills its pages into the WAL (restarting it) and rolls back: the file has a new
  // header and no commit; the wal-index has its salts and mxFrame 0 — as after an application was killed.
  db.app.pragma('cache_size = 5');
  db.app.exec('BEGIN');
  for (let i = 0; i < 50; i++) db.insert.run(3000);
  db.app.exec('ROLLBACK');
  const stale = readFileSync(`${db.path}-wal`).subarray(0, 32);
  const published = publishedWal(db.path)!;
  assert.equal(published.mxFrame, 0);
  assert.ok(published.salts.equals(stale.subarray(16, 24)), 'the wal-index has the new salts');
  const fd = openSync(`${db.path}-wal`, 'r');
  // The base was pinned here (mxFrame 0): capture awaits an epoch with these salts, and takes this one up.
  const first = readCommitted(fd, awaitingEpoch(published.salts), undefined, published);
  assert.equal(first.kind, 'restart');
  if (first.kind !== 'restart') return;
  // Another connection (the application, started again) writes: it never restarted the WAL, so it
  // writes a fresh header with random salts.
  const other = new Database(db.path);
  other.prepare('INSERT INTO t (v) VALUES (randomblob(100))').run();
  const fresh = readFileSync(`${db.path}-wal`).subarray(0, 32);
  assert.notEqual(fresh.readUInt32BE(16), (stale.readUInt32BE(16) + 1) >>> 0, 'not a restart of the stale epoch');
  const next = readCommitted(fd, first.position, undefined, publishedWal(db.path));
  assert.equal(next.kind, 'restart', 'nothing of the stale epoch was committed or read: follow the new header');
  if (next.kind === 'restart') assert.equal(commits(fd, next.position).transactions.length, 1);
  // Once a frame of an epoch was read, the same change breaks the chain.
  const settled = { ...first.position, provisional: false };
  assert.equal(readCommitted(fd, settled, undefined, publishedWal(db.path)).kind, 'broken');
  other.close();
});

test('a commit frame past the wal-index (an application killed before publishing it) is never read', () => {
  const db = liveDb();
  db.hold(); // capture's connection keeps the wal-index: no recovery will adopt the frame
  db.release();
  for (let i = 0; i < 3; i++) db.insert.run(100);
  const fd = openSync(`${db.path}-wal`, 'r');
  const header = readFileSync(`${db.path}-wal`).subarray(0, 32);
  const published = publishedWal(db.path)!;
  const read = commits(fd, epochStart(header));
  assert.equal(read.end.nextFrame, published.mxFrame + 1, 'the file and the wal-index agree so far');
  // What a writer killed after its commit frame, before updating the wal-index, leaves: a valid frame
  // continuing the checksum chain, with a commit marker, that SQLite does not count.
  const ghost = Buffer.alloc(24 + 4096);
  ghost.writeUInt32BE(2, 0);
  ghost.writeUInt32BE(published.nPage, 4);
  header.copy(ghost, 8, 16, 24);
  readFileSync(db.path).copy(ghost, 24, 4096, 8192);
  const [h0, h1] = walChecksum(false, ghost.subarray(0, 8), read.end.s0, read.end.s1);
  const [c0, c1] = walChecksum(false, ghost.subarray(24), h0, h1);
  ghost.writeUInt32BE(c0, 16);
  ghost.writeUInt32BE(c1, 20);
  const raw = openSync(`${db.path}-wal`, 'r+');
  writeSync(raw, ghost, 0, ghost.length, frameOffset(header, read.end.nextFrame));
  closeSync(raw);
  assert.equal(commits(fd, read.end).transactions.length, 1, 'by the file alone it is a commit');
  const bounded = readCommitted(fd, read.end, undefined, publishedWal(db.path));
  assert.deepEqual(bounded.kind === 'commits' && bounded.transactions, [], 'past mxFrame: not read');
  // The application's next commit overwrites it, and that is what capture reads.
  db.insert.run(100);
  const next = readCommitted(fd, read.end, undefined, publishedWal(db.path));
  assert.equal(next.kind === 'commits' && next.transactions.length, 1);
  assert.equal(String(db.app.pragma('integrity_check', { simple: true })), 'ok');
});

test('segments sealed from real frames, cut small and across a WAL restart, rebuild the database exactly', async () => {
  const db = liveDb(1024);
  db.insert.run(50);
  db.app.pragma('wal_checkpoint(TRUNCATE)');
  const base = join(db.dir, 'base.sqlite');
  copyFileSync(db.path, base);
  const baseImage = readFileSync(base);
  const rolling = RollingChecksum.fromDatabaseImage(baseImage, 1024);
  const state: ChainState = {
    dbId: DB_ID,
    genId: GEN_ID,
    pageSize: 1024,
    seq: 0,
    prevDigest: Buffer.alloc(32, 9),
    txid: 100,
    rolling,
    position: awaitingEpoch(),
    dbPages: baseImage.length / 1024,
    lastObservedMs: 1,
  };
  db.hold();
  const fd = openSync(`${db.path}-wal`, 'r');
  let scan: WalPosition = awaitingEpoch();
  const segments: Segment[] = [];
  let ms = 1000;
  const ship = async (expectTx: number) => {
    const pending: PendingTransaction[] = [];
    for (;;) {
      const got = readCommitted(fd, scan);
      if (got.kind === 'restart') {
        scan = got.position;
        continue;
      }
      assert.equal(got.kind, 'commits');
      if (got.kind !== 'commits') return;
      for (const tx of got.transactions) pending.push({ tx, observedMs: ms++ });
      scan = got.end;
      break;
    }
    assert.equal(pending.length, expectTx);
    const sealed = await sealTransactions(fd, state, pending, KEY_A, 8 * 1024);
    for (const s of sealed) {
      const prev = segments.at(-1);
      segments.push(
        await decodeSegment(s.ciphertext, keySet(KEY_A), {
          name: s.name,
          dbId: DB_ID,
          genId: GEN_ID,
          seq: s.header.seq,
          pageSize: 1024,
          prevDigest: prev ? prev.digest : Buffer.alloc(32, 9),
          firstTxid: prev ? prev.header.lastTxid + (endsInside(prev) ? 0 : 1) : 101,
        }),
      );
    }
  };
  for (let i = 0; i < 6; i++) db.insert.run(300 + i * 700);
  db.app.exec('BEGIN');
  for (let i = 0; i < 20; i++) db.insert.run(900); // ~20 KiB of pages: split across segments
  db.app.exec('COMMIT');
  await ship(7);
  // Rotate off the old snapshot, checkpoint everything, and let the next write restart the WAL.
  db.release();
  db.hold();
  db.release();
  db.app.pragma('wal_checkpoint(PASSIVE)');
  db.hold();
  db.app.exec('DELETE FROM t WHERE id % 3 = 0');
  db.insert.run(4000);
  await ship(2);
  assert.ok(
    segments.some((s) => s.records.some((r) => r.type === 'epoch')),
    'the restart is in the chain as an EPOCH record',
  );
  assert.ok(
    segments.some((s) => s.records.some((r) => r.type === 'cont')),
    'the large transaction was split',
  );
  // Each segment begins from the checksum after the last commit before it, also one that goes on
  // with a split transaction (spec §3.4), which is what a restore has there.
  let committed = segments[0]!.header.rollingBefore;
  for (const s of segments) {
    assert.ok(s.header.rollingBefore.equals(committed), `segment ${s.header.seq}'s rollingBefore`);
    for (const r of s.records) if (r.type === 'tx' && !r.continues) committed = r.rollingAfter;
  }
  assert.equal(state.txid, 109);

  let image: Buffer = baseImage;
  for (const s of segments) image = applyRecords(image, s.records, 1024);
  db.release();
  db.app.pragma('wal_checkpoint(TRUNCATE)');
  assert.ok(image.equals(readFileSync(db.path)), 'the applied image is the database file, byte for byte');
  assert.ok(
    RollingChecksum.fromDatabaseImage(image, 1024).value().equals(state.rolling.value()),
    'capture’s rolling checksum is that of the image',
  );
  db.app.close();
});
