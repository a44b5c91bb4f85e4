import { createHash } from 'node:crypto';
import type { EncryptionKey, KeySet } from '../../src/crypto/keys.js';
import { RollingChecksum } from '../../src/pitr/rolling.js';
import type { SegmentFields, SegmentRecord, TxRecord } from '../../src/pitr/segment.js';

/** Builders for segment tests: WAL headers and frames as SQLite lays them out, and a chain of transactions. */

export const DB_ID = '0123456789abcdef0123456789abcdef';
export const GEN_ID = '018f3a2b4c5d00112233445566778899';
export const KEY_A: EncryptionKey = { id: 'keyA', key: Buffer.alloc(32, 0xa1) };
export const KEY_B: EncryptionKey = { id: 'keyB', key: Buffer.alloc(32, 0xb2) };

/** Seeded xorshift32 in [0, 1), so a failing case can be replayed from its seed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

export function keySet(...keys: EncryptionKey[]): KeySet {
  return { active: keys[0]!, ids: keys.map((k) => k.id), get: (id) => keys.find((k) => k.id === id) };
}

export function walHeader(pageSize: number, checkpointSeq: number, salt1: number, salt2: number): Buffer {
  const h = Buffer.alloc(32);
  h.writeUInt32BE(0x377f0682, 0);
  h.writeUInt32BE(3007000, 4);
  h.writeUInt32BE(pageSize, 8);
  h.writeUInt32BE(checkpointSeq, 12);
  h.writeUInt32BE(salt1, 16);
  h.writeUInt32BE(salt2, 20);
  h.writeUInt32BE(0xdeadbeef, 24); // checksums: not the segment codec's business
  h.writeUInt32BE(0xfeedface, 28);
  return h;
}

/** A page whose bytes depend on `tag`, so every write is distinguishable. */
export function pageOf(pageSize: number, tag: string): Buffer {
  const out = Buffer.alloc(pageSize);
  let block = createHash('sha256').update(tag).digest();
  for (let o = 0; o < pageSize; o += 32) {
    block.copy(out, o);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export function frame(pgno: number, commitSize: number, epoch: Buffer, page: Buffer): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32BE(pgno, 0);
  h.writeUInt32BE(commitSize, 4);
  epoch.copy(h, 8, 16, 24);
  h.writeUInt32BE(0x11111111, 16);
  h.writeUInt32BE(0x22222222, 20);
  return Buffer.concat([h, page]);
}

/**
 * A database under construction: transactions become TX records whose rollingAfter is
 * the checksum of the image they produce; the image is kept to check what a restore builds.
 */
export class Chain {
  readonly rolling: RollingChecksum;
  image: Buffer;
  epoch: Buffer;
  txid: number;
  ms: number;

  constructor(
    readonly pageSize = 4096,
    firstTxid = 1,
    startMs = 1_700_000_000_000,
  ) {
    this.rolling = new RollingChecksum(pageSize);
    this.image = Buffer.alloc(0);
    this.epoch = walHeader(pageSize, 0, 1000, 0xabcdef);
    this.txid = firstTxid;
    this.ms = startMs;
  }

  get dbPages(): number {
    return this.image.length / this.pageSize;
  }

  /** One committed transaction writing `pgnos` (tagged pages), then resizing to `dbPages`. */
  tx(pgnos: readonly number[], options: { dbPages?: number; late?: boolean; stepMs?: number } = {}): TxRecord {
    const txid = this.txid++;
    this.ms += options.stepMs ?? 250;
    const pages = pgnos.map((p, i) => [p, pageOf(this.pageSize, `${txid}/${i}/${p}`)] as const);
    const dbPages = options.dbPages ?? Math.max(this.dbPages, ...pgnos);
    const frames = pages.map(([p, page], i) => frame(p, i === pages.length - 1 ? dbPages : 0, this.epoch, page));
    for (const [p, page] of pages) this.write(p, page);
    this.resize(dbPages);
    return {
      type: 'tx',
      txid,
      observedMs: this.ms,
      late: options.late ?? false,
      continues: false,
      dbPages,
      rollingAfter: this.rolling.value(),
      frames: Buffer.concat(frames),
    };
  }

  /** A WAL restart: the EPOCH record of the next header. */
  restart(): SegmentRecord {
    const old = this.epoch;
    this.epoch = walHeader(this.pageSize, old.readUInt32BE(12) + 1, old.readUInt32BE(16) + 1, 0x5eed);
    return { type: 'epoch', walHeader: this.epoch };
  }

  fields(
    seq: number,
    prevDigest: Buffer,
    before: { rolling: Buffer; dbPages: number },
    epoch = this.epoch,
  ): SegmentFields {
    return {
      dbId: DB_ID,
      genId: GEN_ID,
      seq,
      pageSize: this.pageSize,
      walHeader: epoch,
      startFrame: 1,
      s0: 0x1234,
      s1: 0x5678,
      prevDigest,
      rollingBefore: before.rolling,
      dbPagesBefore: before.dbPages,
    };
  }

  snapshot(): { rolling: Buffer; dbPages: number; epoch: Buffer } {
    return { rolling: this.rolling.value(), dbPages: this.dbPages, epoch: this.epoch };
  }

  private write(pgno: number, page: Buffer): void {
    if (pgno > this.dbPages)
      this.image = Buffer.concat([this.image, Buffer.alloc((pgno - this.dbPages) * this.pageSize)]);
    page.copy(this.image, (pgno - 1) * this.pageSize);
    this.rolling.setPage(pgno, page);
  }

  private resize(dbPages: number): void {
    this.image =
      dbPages <= this.dbPages
        ? Buffer.from(this.image.subarray(0, dbPages * this.pageSize))
        : Buffer.concat([this.image, Buffer.alloc((dbPages - this.dbPages) * this.pageSize)]);
    this.rolling.truncate(dbPages);
  }
}

/** Cuts a TX record after `frames` frames: the piece that ends a segment, and the rest. */
export function splitTx(tx: TxRecord, frames: number, pageSize: number): [TxRecord, TxRecord] {
  const cut = frames * (24 + pageSize);
  return [
    { ...tx, continues: true, dbPages: 0, rollingAfter: Buffer.alloc(16), frames: tx.frames.subarray(0, cut) },
    { ...tx, frames: tx.frames.subarray(cut) },
  ];
}

/** What a restore does with decoded records: apply every frame's page, resize at each commit. */
export function applyRecords(image: Buffer, records: readonly SegmentRecord[], pageSize: number): Buffer {
  let out = Buffer.from(image);
  const frameBytes = 24 + pageSize;
  for (const r of records) {
    if (r.type !== 'tx') continue;
    for (let o = 0; o < r.frames.length; o += frameBytes) {
      const pgno = r.frames.readUInt32BE(o);
      const end = pgno * pageSize;
      if (end > out.length) out = Buffer.concat([out, Buffer.alloc(end - out.length)]);
      r.frames.copy(out, (pgno - 1) * pageSize, o + 24, o + frameBytes);
    }
    if (!r.continues) {
      const size = r.dbPages * pageSize;
      out =
        size <= out.length ? Buffer.from(out.subarray(0, size)) : Buffer.concat([out, Buffer.alloc(size - out.length)]);
    }
  }
  return out;
}

/** Raw WAL frames of one committed transaction as a TX record, its pages put into `rolling` first (as capture does). */
export function committedTx(
  rolling: RollingChecksum,
  tx: { readonly frames: Buffer; readonly dbPages: number },
  txid: number,
  observedMs: number,
): TxRecord {
  const frameBytes = 24 + rolling.pageSize;
  for (let o = 0; o < tx.frames.length; o += frameBytes)
    rolling.setPage(tx.frames.readUInt32BE(o), tx.frames.subarray(o + 24, o + frameBytes));
  rolling.truncate(tx.dbPages);
  const rollingAfter = rolling.value();
  return {
    type: 'tx',
    txid,
    observedMs,
    late: false,
    continues: false,
    dbPages: tx.dbPages,
    rollingAfter,
    frames: tx.frames,
  };
}
