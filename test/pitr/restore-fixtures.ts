import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EncryptionKey } from '../../src/crypto/keys.js';
import { writeBase } from '../../src/pitr/base-object.js';
import { encodeSegment, type SegmentFields, type SegmentRecord, type TxRecord } from '../../src/pitr/segment.js';
import { walChecksum } from '../../src/sqlite/wal.js';
import type { PitrObjectStore } from '../../src/storage/object-store.js';
import { Chain, DB_ID, GEN_ID, KEY_A } from './fixtures.js';

/**
 * A generation written the way the capture conventions say (docs/continuous-backup.md, "Format
 * choices"): a first base, then segments seq 1, 2, … chained by digest, with SQLite's real WAL
 * checksums — the fixtures' Chain leaves those as placeholders, which a restore re-checks.
 * `images` keeps the database image after every txid, to compare restores with.
 */
export class Generation<S extends PitrObjectStore = PitrObjectStore> {
  readonly chain: Chain;
  readonly images = new Map<number, Buffer>();
  readonly times = new Map<number, number>();
  seq = 0;
  prevDigest: Buffer = Buffer.alloc(32);
  lastSegmentDigest: Buffer = Buffer.alloc(32);
  readonly names: string[] = [];
  private wal: { frame: number; s0: number; s1: number } | undefined;
  /** The state after the last complete transaction: a segment's "before" (also across a split one). */
  private committed: { rolling: Buffer; dbPages: number };
  private epoch: Buffer;

  constructor(
    readonly store: S,
    readonly dir: string,
    readonly key: EncryptionKey = KEY_A,
    readonly genId = GEN_ID,
    readonly dbId = DB_ID,
    chain?: Chain,
  ) {
    this.chain = chain ?? new Chain(1024);
    this.committed = { rolling: this.chain.rolling.value(), dbPages: this.chain.dbPages };
    this.epoch = this.chain.epoch;
  }

  /** Transactions folded into the image before the first base (no segment carries them). */
  prelude(txs: readonly (readonly number[])[]): void {
    for (const pages of txs) this.tx(pages);
  }

  /** One committed transaction of the chain; the image after it is kept. */
  tx(pages: readonly number[], options: Parameters<Chain['tx']>[1] = {}): TxRecord {
    const r = this.chain.tx(pages, options);
    this.images.set(r.txid, Buffer.from(this.chain.image));
    this.times.set(r.txid, r.observedMs);
    return r;
  }

  /** A base at the current txid: the first (afterSeq 0) or a re-base after the last segment. */
  async base(): Promise<string> {
    const txid = this.chain.txid - 1;
    const path = join(this.dir, `image-${this.genId}-${txid}.db`);
    writeFileSync(path, this.chain.image);
    const first = this.seq === 0;
    this.committed = { rolling: this.chain.rolling.value(), dbPages: this.chain.dbPages };
    this.images.set(txid, Buffer.from(this.chain.image));
    this.times.set(txid, this.chain.ms);
    const written = await writeBase(this.store, this.key, path, {
      dbId: this.dbId,
      genId: this.genId,
      txid,
      observedMs: this.chain.ms,
      pageSize: this.chain.pageSize,
      rolling: this.chain.rolling.value(),
      afterSeq: this.seq,
      chainDigest: first ? Buffer.alloc(32) : this.lastSegmentDigest,
    });
    if (first) this.prevDigest = written.digest;
    this.names.push(written.name);
    return written.name;
  }

  /**
   * One segment of the records `build` makes (through this.chain), with real WAL checksums.
   * `edit` lets a test make an authentic but wrong segment: it sees the sealed records and the
   * header fields just before encoding.
   */
  async segment(
    build: (g: Generation<S>) => SegmentRecord[],
    edit: (records: SegmentRecord[], fields: SegmentFields) => SegmentFields = (_, f) => f,
  ): Promise<string> {
    const before = this.committed;
    const epoch = this.epoch;
    if (!this.wal) this.wal = startEpoch(epoch);
    const start = { walHeader: epoch, startFrame: this.wal.frame + 1, s0: this.wal.s0, s1: this.wal.s1 };
    const records = build(this);
    for (const r of records) {
      if (r.type === 'epoch') {
        this.wal = startEpoch(r.walHeader);
        this.epoch = r.walHeader;
      } else if (r.type === 'tx') {
        sealFrames(r.frames, this.chain.pageSize, this.wal);
        if (!r.continues) this.committed = { rolling: r.rollingAfter, dbPages: r.dbPages };
      }
    }
    this.seq++;
    const fields = edit(records, {
      ...this.chain.fields(this.seq, this.prevDigest, before, epoch),
      ...start,
      dbId: this.dbId,
      genId: this.genId,
    });
    const encoded = await encodeSegment(fields, records, this.key);
    const put = await this.store.putIfAbsent(encoded.name, encoded.ciphertext);
    if (put.kind !== 'written') throw new Error(`${encoded.name}: ${put.kind}`);
    this.prevDigest = encoded.digest;
    this.lastSegmentDigest = encoded.digest;
    this.names.push(encoded.name);
    return encoded.name;
  }
}

/** Gives a (fixture) WAL header its real checksum, in place, and returns the chain state it starts. */
function startEpoch(header: Buffer): { frame: number; s0: number; s1: number } {
  const be = header.readUInt32BE(0) === 0x377f0683;
  const [s0, s1] = walChecksum(be, header.subarray(0, 24), 0, 0);
  header.writeUInt32BE(s0, 24);
  header.writeUInt32BE(s1, 28);
  return { frame: 0, s0, s1 };
}

/** Writes SQLite's running checksum into each frame header, in place, as the WAL would hold it. */
function sealFrames(frames: Buffer, pageSize: number, wal: { frame: number; s0: number; s1: number }): void {
  const size = 24 + pageSize;
  for (let o = 0; o < frames.length; o += size) {
    const f = frames.subarray(o, o + size);
    let [a, b] = walChecksum(false, f.subarray(0, 8), wal.s0, wal.s1);
    [a, b] = walChecksum(false, f.subarray(24), a, b);
    f.writeUInt32BE(a, 16);
    f.writeUInt32BE(b, 20);
    wal.frame++;
    wal.s0 = a;
    wal.s1 = b;
  }
}
