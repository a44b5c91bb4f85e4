import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from '../../src/sqlite/driver.js';
import {
  frameChecksum,
  parseWalIndexHeader,
  scanWal,
  type WalIndexHeader,
  type WalPages,
  walChecksum,
} from '../../src/sqlite/wal.js';
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

test('the WAL checksum is the same in either word order and wraps at 2^32 as SQLite’s u32 sums do', () => {
  // Reference: SQLite's walChecksumBytes with unbounded integers, reduced mod 2^32 at the end.
  const reference = (data: Buffer, bigEndian: boolean, s0: number, s1: number): [number, number] => {
    let a = BigInt(s0);
    let b = BigInt(s1);
    for (let i = 0; i < data.length; i += 8) {
      const w0 = BigInt(bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i));
      const w1 = BigInt(bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4));
      a = (a + w0 + b) % 2n ** 32n;
      b = (b + w1 + a) % 2n ** 32n;
    }
    return [Number(a), Number(b)];
  };
  const data = Buffer.alloc(4096 + 8 + 1);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761 + 7) & 0xff;
  data.fill(0xff, 100, 140); // words at 2^32 − 1: every add wraps
  for (const offset of [0, 1]) {
    const page = data.subarray(offset, offset + 4096 + 8);
    for (const bigEndian of [false, true]) {
      for (const [s0, s1] of [
        [0, 0],
        [0xffffffff, 0x80000001],
      ] as const) {
        assert.deepEqual(
          walChecksum(bigEndian, page, s0, s1),
          reference(page, bigEndian, s0, s1),
          `${offset} ${bigEndian}`,
        );
      }
    }
  }
});

test("a frame's running checksum: every frame of a real WAL, at every alignment, and a changed byte refused", () => {
  const pageSize = wal.readUInt32BE(8);
  const frameBytes = 24 + pageSize;
  const bigEndian = wal.readUInt32BE(0) === 0x377f0683;
  const frames = (wal.length - 32) / frameBytes;
  assert.ok(frames >= 3 && Number.isInteger(frames), `${frames} frames`);
  for (const offset of [0, 1, 2, 4]) {
    // The WAL copied to `offset` bytes into a larger buffer: frames at each alignment a segment gives them.
    const moved = Buffer.alloc(wal.length + 8);
    wal.copy(moved, offset);
    let [s0, s1] = [wal.readUInt32BE(24), wal.readUInt32BE(28)];
    for (let f = 0; f < frames; f++) {
      const at = offset + 32 + f * frameBytes;
      const frame = moved.subarray(at, at + frameBytes);
      const next = frameChecksum(bigEndian, frame, s0, s1);
      assert.deepEqual(next, [frame.readUInt32BE(16), frame.readUInt32BE(20)], `frame ${f + 1} at offset ${offset}`);
      const [h0, h1] = walChecksum(bigEndian, frame.subarray(0, 8), s0, s1);
      assert.deepEqual(next, walChecksum(bigEndian, frame.subarray(24), h0, h1));
      [s0, s1] = next!;
    }
    const first = moved.subarray(offset + 32, offset + 32 + frameBytes);
    for (const byte of [0, 7, 24, frameBytes - 1]) {
      first[byte]! ^= 1;
      assert.equal(frameChecksum(bigEndian, first, wal.readUInt32BE(24), wal.readUInt32BE(28)), undefined, `${byte}`);
      first[byte]! ^= 1;
    }
  }
});
