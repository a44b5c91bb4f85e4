import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from '../../src/sqlite/driver.js';
import { parseWalIndexHeader, scanWal, type WalIndexHeader, type WalPages } from '../../src/sqlite/wal.js';
import { tempDir } from '../support/tmp.js';

/** A WAL and its wal-index as SQLite left them: 3 transactions, checkpoints off. */
function sample(): { wal: Buffer; shm: Buffer; pages: number } {
  const dir = tempDir();
  const path = join(dir, 'live.db');
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
    db.prepare('INSERT INTO t (v) VALUES (randomblob(20000))').run();
    db.prepare('UPDATE t SET v = randomblob(9000)').run();
    const pages = db.pragma('page_count', { simple: true }) as number;
    return { wal: readFileSync(`${path}-wal`), shm: readFileSync(`${path}-shm`), pages };
  } finally {
    db.close();
  }
}

function scan(wal: Buffer, index: WalIndexHeader): WalPages | string {
  const file = join(tempDir(), 'copy-wal');
  writeFileSync(file, wal);
  const fd = openSync(file, 'r');
  try {
    return scanWal(fd, index);
  } finally {
    closeSync(fd);
  }
}

const { wal, shm, pages } = sample();
const index = parseWalIndexHeader(shm) as WalIndexHeader;

test('the wal-index header of a live database says how many frames are committed', () => {
  assert.equal(typeof index, 'object', String(index));
  assert.equal(index.pageSize, 4096);
  assert.equal(index.nPage, pages);
  assert.equal(index.mxFrame, (wal.length - 32) / (24 + 4096));
});

test('scanning the WAL finds the newest frame of each page and checks every checksum', () => {
  const found = scan(wal, index);
  assert.equal(typeof found, 'object', String(found));
  const result = found as WalPages;
  assert.equal(result.nPage, pages);
  assert.ok(result.offsets.size <= index.mxFrame);
  for (const [pgno, offset] of result.offsets) {
    assert.equal(wal.readUInt32BE(offset - 24), pgno, `page ${pgno} points at its own frame`);
  }
});

test('a WAL whose bytes differ from what SQLite committed is refused, naming the frame', () => {
  const flipped = Buffer.from(wal);
  flipped[32 + 24 + 4096 + 24 + 100]! ^= 1; // page data of frame 2
  assert.equal(scan(flipped, index), "WAL frame 2's checksum does not match");
  const salted = Buffer.from(wal);
  salted[32 + 8]! ^= 1; // salt of frame 1
  assert.equal(scan(salted, index), 'WAL frame 1 carries other salts');
  assert.equal(scan(wal.subarray(0, wal.length - 10), index), `the WAL ends before frame ${index.mxFrame}`);
  assert.match(String(scan(wal, { ...index, mxFrame: index.mxFrame - 1 })), /not a commit frame|running checksum/);
  assert.equal(scan(wal, { ...index, salts: Buffer.alloc(8) }), "the WAL's salts are not the wal-index's (a restart)");
});

test('a wal-index header that is being written or damaged is refused', () => {
  const torn = Buffer.from(shm);
  torn.writeUInt32LE(torn.readUInt32LE(16) + 1, 16); // mxFrame of the first copy only
  assert.equal(parseWalIndexHeader(torn), 'the two copies of the wal-index header differ (a writer is updating it)');
  const both = Buffer.from(torn);
  torn.copy(both, 48, 0, 48);
  assert.equal(parseWalIndexHeader(both), 'the wal-index header checksum does not match');
  assert.match(String(parseWalIndexHeader(shm.subarray(0, 100))), /shorter than its header/);
});
