import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EncryptionKey } from '../../src/crypto/keys.js';
import { writeBase } from '../../src/pitr/base-object.js';
import { RollingChecksum } from '../../src/pitr/rolling.js';
import { encodeSegment, type SegmentRecord } from '../../src/pitr/segment.js';
import Database from '../../src/sqlite/driver.js';
import { walChecksum } from '../../src/sqlite/wal.js';
import type { PitrObjectStore } from '../../src/storage/object-store.js';
import { committedTx } from './fixtures.js';

/**
 * A real SQLite database (better-sqlite3, WAL mode, no autocheckpoint) shipped the way the
 * capture conventions say, by a minimal test-only WAL tail: after each commit the `-wal` file's
 * new frames (salts and running checksum checked, up to the commit frame) become a TX record; a
 * WAL restart (forced by a checkpoint) becomes an EPOCH record. The base is the database file
 * copied right after a TRUNCATE checkpoint. `rows` holds what SQLite returned after each txid.
 */

export interface ShippedDatabase {
  readonly dbId: string;
  readonly genId: string;
  readonly baseTxid: number;
  readonly lastTxid: number;
  /** txid → the rows of `items` (id, name, n) committed at that txid. */
  readonly rows: Map<number, string>;
  readonly times: Map<number, number>;
  /** Transactions after which the WAL restarted (their frames begin a new epoch). */
  readonly restartedAt: number[];
  readonly segments: number;
}

const PAGE = 4096;
const BASE_TXID = 100;
const START_MS = 1_750_000_000_000;

export function itemsOf(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return JSON.stringify(db.prepare('SELECT id, name, n, length(pad) AS pad FROM items ORDER BY id').all());
  } finally {
    db.close();
  }
}

export async function shipRealDatabase(
  store: PitrObjectStore,
  dir: string,
  key: EncryptionKey,
  ids: { dbId: string; genId: string },
  options: { padRows?: number; txPerSegment?: number } = {},
): Promise<ShippedDatabase> {
  const path = join(dir, 'app.db');
  const db = new Database(path);
  const rows = new Map<number, string>();
  const times = new Map<number, number>();
  const restartedAt: number[] = [];
  try {
    // auto_vacuum first (before any table) so that a later incremental_vacuum shrinks the file.
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma(`page_size = ${PAGE}`);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER, pad BLOB)');
    const insert = db.prepare('INSERT INTO items (name, n, pad) VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < (options.padRows ?? 20); i++) insert.run(`seed-${i}`, i, Buffer.alloc(3000, i % 251));
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
    const image = join(dir, 'base-image.db');
    copyFileSync(path, image);
    const tail = new WalTail(`${path}-wal`, PAGE);
    const rolling = RollingChecksum.fromDatabaseImage(readFileSync(image), PAGE);
    let txid = BASE_TXID;
    let ms = START_MS;
    rows.set(txid, itemsOf(path));
    times.set(txid, ms);
    const base = await writeBase(store, key, image, {
      ...ids,
      txid,
      observedMs: ms,
      pageSize: PAGE,
      rolling: rolling.value(),
      afterSeq: 0,
      chainDigest: Buffer.alloc(32),
    });

    const inserts = (rows: Array<[string, number, Buffer | null]>) =>
      db.transaction(() => {
        for (const row of rows) insert.run(...row);
      })();
    const work: Array<() => void> = [
      () => inserts([1, 2, 3].map((i) => [`a-${i}`, i, Buffer.alloc(500, i)])),
      () => db.prepare('UPDATE items SET n = n + 1000 WHERE id % 3 = 0').run(),
      () => db.prepare('DELETE FROM items WHERE id = 5').run(),
      // Grows the file by many pages in one transaction.
      () => inserts([...Array(40).keys()].map((i) => [`big-${i}`, i, Buffer.alloc(3500, 7)])),
      () => db.prepare("UPDATE items SET name = 'renamed' WHERE id = 2").run(),
      () => db.pragma('wal_checkpoint(PASSIVE)'), // no frames; the next write restarts the WAL
      () => insert.run('after-restart', 1, Buffer.alloc(10, 1)),
      () => db.prepare('UPDATE items SET pad = zeroblob(4000) WHERE id < 4').run(),
      () => db.prepare("DELETE FROM items WHERE name LIKE 'big-%'").run(),
      () => db.pragma('incremental_vacuum'), // shrinks the file: dbPages goes down at this commit
      () => db.pragma('wal_checkpoint(PASSIVE)'),
      () => insert.run('second-restart', 2, null),
      () => inserts([4, 5].map((i) => [`z-${i}`, i, Buffer.alloc(100, i)])),
    ];
    const records: SegmentRecord[] = [];
    let segStart: SegmentStart | undefined;
    let prevDigest = base.digest;
    let before = { rolling: rolling.value(), dbPages: rolling.dbPages };
    let seq = 0;
    const flush = async () => {
      if (records.length === 0 || !segStart) return;
      seq++;
      const enc = await encodeSegment(
        {
          ...ids,
          seq,
          pageSize: PAGE,
          ...segStart,
          prevDigest,
          rollingBefore: before.rolling,
          dbPagesBefore: before.dbPages,
        },
        records.splice(0),
        key,
      );
      const put = await store.putIfAbsent(enc.name, enc.ciphertext);
      if (put.kind !== 'written') throw new Error(`${enc.name}: ${put.kind}`);
      prevDigest = enc.digest;
      before = { rolling: rolling.value(), dbPages: rolling.dbPages };
      segStart = undefined;
    };
    for (const step of work) {
      step();
      const tx = tail.next();
      if (!tx) continue; // a checkpoint: no transaction
      if (!segStart) segStart = tx.start;
      if (tx.epoch) {
        restartedAt.push(txid);
        records.push({ type: 'epoch', walHeader: tx.epoch });
      }
      txid++;
      ms += 1000;
      records.push(committedTx(rolling, tx, txid, ms));
      rows.set(txid, itemsOf(path));
      times.set(txid, ms);
      if (records.filter((r) => r.type === 'tx').length >= (options.txPerSegment ?? 3)) await flush();
    }
    await flush();
    return { ...ids, baseTxid: BASE_TXID, lastTxid: txid, rows, times, restartedAt, segments: seq };
  } finally {
    db.close();
  }
}

/**
 * Test-only: the frames each commit appended to a WAL, read from the file after the commit. A
 * new salt means SQLite restarted the WAL: the new header is returned as `epoch` and the frames
 * count again from 1. Frames are accepted only along SQLite's running checksum (F3).
 */
class WalTail {
  private header: Buffer | undefined;
  private frame = 0;
  private s0 = 0;
  private s1 = 0;

  constructor(
    private readonly path: string,
    private readonly pageSize: number,
  ) {}

  next(): { frames: Buffer; dbPages: number; epoch: Buffer | undefined; start: SegmentStart } | undefined {
    const wal = readFileSync(this.path);
    if (wal.length < 32) return undefined;
    const header = Buffer.from(wal.subarray(0, 32));
    let epoch: Buffer | undefined;
    if (!this.header || !header.subarray(16, 24).equals(this.header.subarray(16, 24))) {
      const [a, b] = walChecksum(false, header.subarray(0, 24), 0, 0);
      if (header.readUInt32BE(0) !== 0x377f0682 || a !== header.readUInt32BE(24) || b !== header.readUInt32BE(28))
        throw new Error('unexpected WAL header (this reader handles little-endian checksums only)');
      if (this.header) epoch = header;
      else [this.header, this.s0, this.s1] = [header, a, b];
    }
    // Where a segment starting with this transaction starts: in the epoch in force before it.
    const start = { walHeader: this.header!, startFrame: this.frame + 1, s0: this.s0, s1: this.s1 };
    if (epoch) {
      this.header = epoch;
      this.frame = 0;
      [this.s0, this.s1] = [epoch.readUInt32BE(24), epoch.readUInt32BE(28)];
    }
    const salts = this.header!.subarray(16, 24);
    const size = 24 + this.pageSize;
    const frames: Buffer[] = [];
    let [s0, s1] = [this.s0, this.s1];
    let committed = { count: 0, s0, s1, dbPages: 0 };
    for (let i = this.frame; 32 + (i + 1) * size <= wal.length; i++) {
      const f = wal.subarray(32 + i * size, 32 + (i + 1) * size);
      if (!f.subarray(8, 16).equals(salts)) break;
      [s0, s1] = walChecksum(false, f.subarray(0, 8), s0, s1);
      [s0, s1] = walChecksum(false, f.subarray(24), s0, s1);
      if (s0 !== f.readUInt32BE(16) || s1 !== f.readUInt32BE(20)) break;
      frames.push(Buffer.from(f));
      if (f.readUInt32BE(4) !== 0) committed = { count: frames.length, s0, s1, dbPages: f.readUInt32BE(4) };
    }
    if (committed.count === 0) {
      if (epoch) throw new Error('the WAL restarted without a commit');
      return undefined;
    }
    this.frame += committed.count;
    [this.s0, this.s1] = [committed.s0, committed.s1];
    return { frames: Buffer.concat(frames.slice(0, committed.count)), dbPages: committed.dbPages, epoch, start };
  }
}

interface SegmentStart {
  readonly walHeader: Buffer;
  readonly startFrame: number;
  readonly s0: number;
  readonly s1: number;
}
