import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RollingChecksum } from '../../src/pitr/rolling.js';
import { decodeSegment, encodeSegment, type SegmentRecord } from '../../src/pitr/segment.js';
import Database from '../../src/sqlite/driver.js';
import { tempDir } from '../support/tmp.js';
import { applyRecords, committedTx, DB_ID, GEN_ID, KEY_A, keySet } from './fixtures.js';

/**
 * Real frames: what better-sqlite3's SQLite writes to its -wal, through a WAL restart, into a
 * segment and back, applied to the database file as it was before — byte for byte the
 * database SQLite has after a checkpoint, with the rolling checksum agreeing at every commit.
 */

interface Epoch {
  readonly header: Buffer;
  readonly txs: { frames: Buffer; dbPages: number }[];
}

/** The committed transactions of a -wal file (frames with the header's salts, up to the last commit). */
function readWal(wal: Buffer, pageSize: number): Epoch {
  const header = Buffer.from(wal.subarray(0, 32));
  const txs: Epoch['txs'] = [];
  let open: Buffer[] = [];
  for (let o = 32; o + 24 + pageSize <= wal.length; o += 24 + pageSize) {
    if (!wal.subarray(o + 8, o + 16).equals(header.subarray(16, 24))) break;
    open.push(Buffer.from(wal.subarray(o, o + 24 + pageSize)));
    const commit = wal.readUInt32BE(o + 4);
    if (commit !== 0) {
      txs.push({ frames: Buffer.concat(open), dbPages: commit });
      open = [];
    }
  }
  return { header, txs };
}

test('frames from a real -wal, across a WAL restart and a shrinking commit, restore the database exactly', async () => {
  const dir = tempDir();
  const path = join(dir, 'app.sqlite');
  const db = new Database(path);
  db.pragma('auto_vacuum = FULL'); // deletes shrink the file: commits with a smaller size
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)');
  db.pragma('wal_checkpoint(TRUNCATE)');
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const base = readFileSync(path);
  const insert = db.prepare('INSERT INTO t(v) VALUES (randomblob(?))');
  for (let i = 0; i < 6; i++)
    db.transaction(() => {
      for (let j = 0; j < 8; j++) insert.run(3000);
    })();
  db.exec('UPDATE t SET v = randomblob(100) WHERE id % 3 = 0');
  const first = readWal(readFileSync(`${path}-wal`), pageSize);
  const [ckpt] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
  assert.equal(ckpt!.log, ckpt!.checkpointed, 'fully backfilled, so the next write restarts the WAL');
  db.exec('DELETE FROM t WHERE id > 10');
  insert.run(20_000); // overflow pages
  const second = readWal(readFileSync(`${path}-wal`), pageSize);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const final = readFileSync(path);

  assert.equal(second.header.readUInt32BE(12), first.header.readUInt32BE(12) + 1, 'checkpoint sequence +1');
  assert.equal(first.txs.length, 7);
  assert.equal(second.txs.length, 2);
  assert.ok(second.txs[0]!.dbPages < first.txs[6]!.dbPages, 'the delete shrank the database');

  const rolling = RollingChecksum.fromDatabaseImage(base, pageSize);
  const before = rolling.value();
  let txid = 100;
  let ms = 1_700_000_000_000;
  const asRecord = (tx: Epoch['txs'][number]): SegmentRecord => {
    ms += 40;
    return committedTx(rolling, tx, txid++, ms);
  };
  const records: SegmentRecord[] = [
    ...first.txs.map(asRecord),
    { type: 'epoch', walHeader: second.header },
    ...second.txs.map(asRecord),
  ];
  const fields = {
    dbId: DB_ID,
    genId: GEN_ID,
    seq: 1,
    pageSize,
    walHeader: first.header,
    startFrame: 1,
    s0: 0,
    s1: 0,
    prevDigest: Buffer.alloc(32, 7),
    rollingBefore: before,
    dbPagesBefore: base.length / pageSize,
  };
  const seg = await encodeSegment(fields, records, KEY_A);
  const out = await decodeSegment(seg.ciphertext, keySet(KEY_A), {
    name: seg.name,
    dbId: DB_ID,
    genId: GEN_ID,
    seq: 1,
    prevDigest: fields.prevDigest,
    firstTxid: 100,
  });
  assert.equal(out.header.lastTxid, 108);

  // Apply commit by commit, as a restore will, checking the rolling checksum after each.
  let image: Buffer = base;
  const check = RollingChecksum.fromDatabaseImage(base, pageSize);
  for (const r of out.records) {
    if (r.type !== 'tx') continue;
    image = applyRecords(image, [r], pageSize);
    assert.ok(RollingChecksum.fromDatabaseImage(image, pageSize).value().equals(r.rollingAfter), `txid ${r.txid}`);
    for (let o = 0; o < r.frames.length; o += 24 + pageSize)
      check.setPage(r.frames.readUInt32BE(o), r.frames.subarray(o + 24, o + 24 + pageSize));
    check.truncate(r.dbPages);
    assert.ok(check.value().equals(r.rollingAfter), `incremental, txid ${r.txid}`);
  }
  assert.ok(image.equals(final), 'the restored image is the checkpointed database, byte for byte');
  assert.ok(out.header.rollingAfter.equals(RollingChecksum.fromDatabaseImage(final, pageSize).value()));
});
