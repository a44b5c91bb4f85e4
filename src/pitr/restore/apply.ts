import { ftruncateSync, writeSync, writevSync } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { KeyLookup } from '../../crypto/stream.js';
import { LifeboatError } from '../../errors.js';
import { fsyncDir, linkNoClobber, tempPathFor } from '../../fs/durable.js';
import { errnoOf } from '../../fs/errno.js';
import type { Logger } from '../../log.js';
import { checkWalHeader, frameChecksum } from '../../sqlite/wal.js';
import { continuesEpoch, FRAME_HEADER_BYTES, type WalHeaderFields } from '../../sqlite/wal-header.js';
import type { PitrObjectStore, RequestOptions } from '../../storage/object-store.js';
import { type ReadBase, readBase } from '../base-object.js';
import { dbPrefix } from '../names.js';
import type { RollingChecksum } from '../rolling.js';
import { type ChainExpectation, checkChain, type Segment, type TxRecord } from '../segment.js';
import { SegmentFeed } from './feed.js';
import { placeHold } from './hold.js';
import { lineageFor } from './lineage.js';
import { describe, iso, type PitrTarget, planRestore, type RestorePlan, timelineProblem } from './plan.js';

/**
 * Point-in-time restore (spec §3.10 steps 3–4): the plan's base into a temp file, then its
 * segments in order, each opened with every check of the segment codec against the plan
 * (name, ids, seq, page size, prevDigest chain, firstTxid, split transactions), and across
 * segments SQLite's own chain: each segment's WAL header, start frame and running checksum
 * (s0, s1) must be where the previous one left off, every frame's salts and running checksum
 * are recomputed (F3), and an EPOCH must be a proper restart with a valid header checksum.
 * Each transaction's pages are written at (pgno − 1) × pageSize and the file cut to its
 * dbPages at its commit; after each segment's last commit and after the target, the recomputed
 * rolling checksum must equal that commit's rollingAfter (PITR_CHECKSUM_MISMATCH otherwise):
 * every database a restore can produce is checked. The restore stops after the target; the
 * file is fsynced and only then linked to the target path, never over an existing file: on
 * any failure nothing is at the target path and the temp file is gone.
 *
 * Time targets: the last transaction observed at or before the time. A transaction captured
 * late (after downtime) was committed at some unknown moment before its observedMs, so a
 * time just before a late one is refused (PITR_TARGET_UNRESTORABLE): such transactions are
 * reached exactly by txid only.
 */

export interface RestorePitrOptions extends RequestOptions {
  readonly store: PitrObjectStore;
  readonly keys: KeyLookup;
  readonly dbId: string;
  readonly target: PitrTarget;
  /**
   * Resolve `latest` and a time on this timeline (the newest generation whose meta says so, and its
   * line of restores) instead of the newest generation's: a branch a restore left (`--timeline K`).
   */
  readonly timeline?: number | undefined;
  /** Where the restored database goes; must not exist. The temp file is made beside it. */
  readonly path: string;
  /** Stored segment bytes fetched ahead of the one applied, at most (default 32 MiB; feed.ts). */
  readonly aheadBytes?: number;
  /** Where a hold that could not be placed or deleted is reported (hold.ts). */
  readonly log?: Logger | undefined;
  /** Stored bytes fetched and used so far (the base as it downloads, each segment once applied), of `total`. */
  readonly onProgress?: ((bytes: number, total: number) => void) | undefined;
}

export interface PitrRestoreResult {
  readonly path: string;
  readonly genId: string;
  /** The transaction restored, and when capture observed it. */
  readonly txid: number;
  readonly observedMs: number;
  /** The newest transaction the bucket names for this database (restorable or not): what was not restored. */
  readonly newestTxid: number;
  readonly newestMs: number;
  readonly base: string;
  readonly segments: number;
}

/** Lists, plans and restores: the whole of a point-in-time restore short of the validation and swap. */
export async function restorePitr(options: RestorePitrOptions): Promise<PitrRestoreResult> {
  const { store, keys, dbId, target, timeline } = options;
  const problem = timelineProblem(target, timeline);
  if (problem) throw new RangeError(problem);
  const listing = await store.list(dbPrefix(dbId), options);
  const line = await lineageFor(store, keys, dbId, listing, target, {
    log: options.log,
    signal: options.signal,
    timeline,
  });
  const plan = planRestore(dbId, listing, target, line);
  return applyPlan(plan, options);
}

export async function applyPlan(plan: RestorePlan, options: RestorePitrOptions): Promise<PitrRestoreResult> {
  // Retention in the database's writer deletes nothing while the hold is in force.
  const hold = await placeHold(options.store, plan.dbId, { log: options.log });
  try {
    return await applyHeld(plan, options);
  } finally {
    await hold.release();
  }
}

async function applyHeld(plan: RestorePlan, options: RestorePitrOptions): Promise<PitrRestoreResult> {
  const temp = tempPathFor(options.path);
  // Segments are fetched while the base downloads (feed.ts).
  const feed = new SegmentFeed(plan.segments, { ...options, genId: plan.genId });
  try {
    const progress = new Progress(plan, options.onProgress);
    const base = await readBase(options.store, options.keys, { ...plan.base, dbId: plan.dbId }, temp, {
      ...options,
      sync: false,
      onBytes: (bytes) => progress.base(bytes),
    });
    const fh = await open(temp, 'r+');
    let reached: { txid: number; observedMs: number; segments: number };
    try {
      // The base's fsync is started, not awaited: the disk writes the image back while the segments are applied.
      // The file is linked to its path only after it and a last fsync.
      const early = fh.datasync().then(
        () => undefined,
        (err: unknown) => ({ err }),
      );
      try {
        reached = await applySegments(plan, fh, base, feed, progress);
      } catch (err) {
        await early;
        throw err;
      }
      // Linux reports a writeback error once: one this fsync saw is not seen by the next.
      const failed = await early;
      if (failed) throw failed.err;
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await linkNoClobber(temp, options.path);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
      throw new LifeboatError('OUTPUT_EXISTS', `${options.path} already exists; the restore does not write over it`, {
        hint: 'restore to a new path; the existing file was left as it was',
      });
    }
    await unlink(temp).catch(() => undefined);
    await fsyncDir(dirname(options.path));
    return {
      path: options.path,
      genId: plan.genId,
      txid: reached.txid,
      observedMs: reached.observedMs,
      newestTxid: plan.newest.txid,
      newestMs: plan.newest.ms,
      base: plan.base.name,
      segments: reached.segments,
    };
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  } finally {
    feed.stop();
  }
}

/**
 * Pages are written with synchronous positional writes into the page cache (PageBatch): an
 * awaited write per frame is a thread-pool round trip, and made a restore of small transactions
 * cost ~166 µs each against ~16 µs (docs/benchmarks.md, "Continuous backup"). The event loop
 * gets a turn every this many transactions.
 */
const YIELD_EVERY = 256;

/** Where SQLite's WAL chain stands: the epoch in force, frames of it applied, running checksum. */
interface WalState {
  header: Buffer;
  fields: WalHeaderFields;
  bigEndian: boolean;
  frame: number;
  s0: number;
  s1: number;
}

async function applySegments(
  plan: RestorePlan,
  fh: FileHandle,
  base: ReadBase,
  feed: SegmentFeed,
  progress: Progress,
): Promise<{ txid: number; observedMs: number; segments: number }> {
  const { target } = plan;
  const h = base.header;
  const pageSize = h.pageSize;
  const rolling = base.rolling;
  let done = { txid: h.txid, observedMs: h.observedMs };
  const reachedTarget = () => (target.kind === 'txid' && done.txid === target.txid) || done.txid === plan.stopAtTxid;
  if (reachedTarget() || plan.segments.length === 0) return { ...done, segments: 0 };

  const first = plan.segments[0]!;
  if (h.afterSeq !== first.seq - 1) {
    if (h.afterSeq < first.seq - 1) {
      const gap = first.seq - 1 === h.afterSeq + 1 ? `${h.afterSeq + 1}` : `${h.afterSeq + 1}…${first.seq - 1}`;
      throw new LifeboatError(
        'PITR_CHAIN_GAP',
        `base ${plan.base.name} is followed by segment seq ${h.afterSeq + 1}, which is missing (seq ${gap} ` +
          `not in the bucket; the next listed is ${first.name}). ${describe(plan.dbId, plan.ranges)}`,
        { hint: 'restore from another base or to another point; check the bucket for deleted objects' },
      );
    }
    throw new LifeboatError(
      'PITR_OBJECT_MISMATCH',
      `base ${plan.base.name} says it follows segment seq ${h.afterSeq}, but segment ${first.name} holds ` +
        'transactions after its txid: the base was taken elsewhere in the chain',
      { hint: 'restore from another base, and check the bucket for copied or renamed objects' },
    );
  }

  let more = [...plan.more];

  let wal: WalState | undefined;
  let applied = 0;
  let transactions = 0;
  // The checksum after the last commit: a segment's rollingBefore, also when it goes on with a split transaction.
  let committed = rolling.value();
  const pages = new PageBatch(fh.fd, pageSize);
  const checksum = new DeferredRolling(rolling);
  // The rolling checksum is compared where a restore can end — the last complete transaction of each
  // segment, the target — for the database those transactions built: `checkedAfter` is the last compared.
  let checkedAfter = done.txid;
  const check = (name: string) => {
    if (checkedAfter === done.txid) return;
    const got = checksum.value();
    if (!got.equals(committed)) {
      throw new LifeboatError(
        'PITR_CHECKSUM_MISMATCH',
        `after transaction ${done.txid} (segment ${name}) the rebuilt database's rolling checksum ` +
          `${got.toString('hex')} is not the ${committed.toString('hex')} its writer recorded; it was right ` +
          `after transaction ${checkedAfter}, so the first wrong one is in ${checkedAfter + 1}…${done.txid}`,
        {
          hint:
            `the segments authenticated, so this is a capture or restore bug: report it; restore to txid ` +
            `${checkedAfter} or earlier`,
        },
      );
    }
    checkedAfter = done.txid;
  };
  let expect: ChainExpectation = {
    prevDigest: h.afterSeq === 0 ? base.digest : h.chainDigest,
    firstTxid: h.txid + 1,
    continuing: false,
  };
  for (let next = await feed.next(); next; next = await feed.next()) {
    const { seg, segment } = next;
    if (segment.header.pageSize !== pageSize) {
      throw mismatch(seg.name, `its header says page size ${segment.header.pageSize}, its base's is ${pageSize}`);
    }
    checkChain(segment, expect);
    const last = segment.records[segment.records.length - 1];
    const continuing = last?.type === 'tx' && last.continues;
    // The target transaction goes on in a segment the plan did not think it needed.
    if (feed.remaining === 0 && continuing && target.kind !== 'latest' && more.length > 0) {
      feed.append(more[0]!);
      progress.planned(more[0]!.size);
      more = more.slice(1);
    }
    const upcoming = feed.remaining > 0;
    expect = {
      prevDigest: segment.digest,
      firstTxid: continuing ? segment.header.lastTxid : segment.header.lastTxid + 1,
      continuing,
    };
    applied++;
    // A segment that resumes after a restart of capture starts SQLite's chain afresh; its content
    // carries on, which rollingBefore (checked below) proves.
    wal = continueWal(segment.header.resumes ? undefined : wal, segment, seg.name);
    // Segments that go on with a split transaction were sealed before 2026-12-06 with the checksum
    // including its first part's pages; that is the checksum the pages applied so far give.
    const resumesSplit = segment.records[0]?.type === 'cont';
    const before = segment.header.rollingBefore;
    if (!before.equals(committed) && !(resumesSplit && before.equals(checksum.value()))) {
      throw mismatch(
        seg.name,
        `its rollingBefore ${before.toString('hex')} is not ${committed.toString('hex')}, the ` +
          `checksum of the database base ${plan.base.name} and the ${applied - 1} segment(s) after it built`,
      );
    }
    let stop = false;
    let resumed = false;
    const lastComplete = segment.records.findLastIndex((r) => r.type === 'tx' && !r.continues);
    for (const [i, record] of segment.records.entries()) {
      if (record.type === 'cont') {
        resumed = true;
        continue;
      }
      if (record.type === 'epoch') {
        wal = nextEpoch(wal, record.walHeader, seg.name);
        continue;
      }
      // A piece that continues a transaction was decided on in the segment where it began.
      if (!resumed && target.kind === 'time' && record.observedMs > target.ms) {
        // Capture saw the database up to `done` at done.observedMs, so that instant is exact.
        if (record.late && target.ms > done.observedMs) throw lateRefusal(plan, target.ms, done, record);
        stop = true;
        break;
      }
      resumed = false;
      // A piece whose rest is not in the bucket (yet) is never written: the file would hold
      // pages of a transaction that did not commit. It is a segment's last record.
      if (record.continues && !upcoming) break;
      applyFrames(pages, record, wal, checksum, seg.name);
      if (record.continues) continue;
      // The file is dbPages pages long here (frames only grow it): cut it only when the commit shrinks it.
      if (checksum.dbPages !== record.dbPages) {
        pages.truncate(record.dbPages);
        ftruncateSync(fh.fd, record.dbPages * pageSize);
      }
      checksum.truncate(record.dbPages);
      if (++transactions % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      done = { txid: record.txid, observedMs: record.observedMs };
      committed = record.rollingAfter;
      if (reachedTarget()) {
        stop = true;
        break;
      }
      if (i === lastComplete) check(seg.name);
    }
    check(seg.name);
    pages.flush();
    progress.segment(seg.size);
    if (stop) return { ...done, segments: applied };
  }
  if (target.kind === 'txid' && done.txid !== target.txid) {
    throw new LifeboatError(
      'PITR_TARGET_UNRESTORABLE',
      `txid ${target.txid} is not complete in the bucket: the chain of generation ${plan.genId} ends inside it ` +
        `(the last complete transaction is txid ${done.txid}). ${describe(plan.dbId, plan.ranges)}`,
      { hint: `restore to txid ${done.txid}, or wait for the writer to ship the rest and try again` },
    );
  }
  return { ...done, segments: applied };
}

/** What a restore reports: stored bytes of the base downloaded, plus those of each segment applied, of the plan's. */
class Progress {
  #total: number;
  #base = 0;
  #segments = 0;

  constructor(
    plan: RestorePlan,
    readonly report: ((bytes: number, total: number) => void) | undefined,
  ) {
    this.#total = plan.base.size + plan.segments.reduce((n, s) => n + s.size, 0);
  }

  base(bytes: number): void {
    this.#base = bytes;
    this.report?.(this.#base + this.#segments, this.#total);
  }

  segment(bytes: number): void {
    this.#segments += bytes;
    this.report?.(this.#base + this.#segments, this.#total);
  }

  /** A segment the plan did not count (the target goes on in it). */
  planned(bytes: number): void {
    this.#total += bytes;
  }
}

/** The WAL state a segment starts from: its own header's when it is the first, else checked against the previous. */
function continueWal(wal: WalState | undefined, segment: Segment, name: string): WalState {
  const h = segment.header;
  if (!wal) {
    const state = epochState(h.walHeader, name);
    if (h.startFrame === 1 && (h.s0 !== state.s0 || h.s1 !== state.s1))
      throw malformed(name, 'it starts at frame 1, but its s0/s1 are not the WAL header checksum');
    return { ...state, frame: h.startFrame - 1, s0: h.s0, s1: h.s1 };
  }
  if (!h.walHeader.equals(wal.header))
    throw mismatch(name, "its WAL header is not the one in force where the segment before it ended (SQLite's chain)");
  if (h.startFrame !== wal.frame + 1 || h.s0 !== wal.s0 || h.s1 !== wal.s1) {
    throw mismatch(
      name,
      `it starts at WAL frame ${h.startFrame} with running checksum ${hex(h.s0)} ${hex(h.s1)}, but the segment ` +
        `before it ended after frame ${wal.frame} with ${hex(wal.s0)} ${hex(wal.s1)} (SQLite's chain is broken)`,
    );
  }
  return wal;
}

function epochState(header: Buffer, name: string): WalState {
  const checked = checkWalHeader(header);
  if (typeof checked === 'string') throw malformed(name, `a WAL header it carries: ${checked}`);
  return { header: Buffer.from(header), ...checked, frame: 0 };
}

function nextEpoch(wal: WalState, header: Buffer, name: string): WalState {
  const next = epochState(header, name);
  if (!continuesEpoch(wal.fields, next.fields))
    throw malformed(name, 'its EPOCH record is not a restart of the WAL before it (salt-1 +1, same page size)');
  return next;
}

/** Checks each frame against SQLite's chain and puts its page in the batch; the rolling checksum follows. */
function applyFrames(pages: PageBatch, record: TxRecord, wal: WalState, rolling: DeferredRolling, name: string): void {
  const pageSize = pages.pageSize;
  const frameBytes = FRAME_HEADER_BYTES + pageSize;
  const salts = wal.header.subarray(16, 24);
  const frames = record.frames;
  for (let o = 0; o < frames.length; o += frameBytes) {
    const frame = frames.subarray(o, o + frameBytes);
    const n = wal.frame + 1;
    if (frames.compare(salts, 0, 8, o + 8, o + 16) !== 0) throw malformed(name, `WAL frame ${n} carries other salts`);
    const next = frameChecksum(wal.bigEndian, frame, wal.s0, wal.s1);
    if (!next) throw malformed(name, `WAL frame ${n} (transaction ${record.txid}) fails SQLite's running checksum`);
    wal.frame = n;
    [wal.s0, wal.s1] = next;
    const pgno = frames.readUInt32BE(o);
    const page = frames.subarray(o + FRAME_HEADER_BYTES, o + frameBytes);
    pages.set(pgno, page);
    rolling.setPage(pgno, page);
  }
}

/**
 * The rolling checksum, brought up to date only when it is read: the checksum is that of the
 * file image (rolling.ts), so hashing each page's newest content once gives what hashing every
 * frame in order gives — and a page a segment's transactions all change (a table's last leaf,
 * the header page) is hashed once per segment instead of once per transaction (SHA-256 of every
 * frame was a fifth of the apply). A shrink settles first: pages it cuts must leave the table.
 */
class DeferredRolling {
  readonly #rolling: RollingChecksum;
  readonly #unsettled = new Map<number, Buffer>();
  #pages: number;

  constructor(rolling: RollingChecksum) {
    this.#rolling = rolling;
    this.#pages = rolling.dbPages;
  }

  /** Pages in the database as eager updates would have it (frames grow it, commits set it). */
  get dbPages(): number {
    return this.#pages;
  }

  setPage(pgno: number, page: Buffer): void {
    this.#unsettled.set(pgno, page);
    if (pgno > this.#pages) this.#pages = pgno;
  }

  truncate(dbPages: number): void {
    if (dbPages < this.#pages) {
      this.#settle();
      this.#rolling.truncate(dbPages);
    }
    this.#pages = dbPages;
  }

  value(): Buffer {
    this.#settle();
    return this.#rolling.value();
  }

  #settle(): void {
    for (const [pgno, page] of this.#unsettled) this.#rolling.setPage(pgno, page);
    this.#unsettled.clear();
    if (this.#rolling.dbPages < this.#pages) this.#rolling.truncate(this.#pages);
  }
}

/** Buffers one writev takes at most (Linux's IOV_MAX). */
const IOV_MAX = 1024;

/**
 * The pages a segment's transactions write, held (as views of the decrypted segment, no copy)
 * until the segment is applied: a page several transactions change — a table's last leaf, the
 * header page — is written once, and runs of consecutive pages go in one writev. What the file
 * holds after each segment is what writing every frame in order gives; the rolling checksum
 * is still checked after every commit, from the frames themselves.
 */
class PageBatch {
  readonly #pages = new Map<number, Buffer>();

  constructor(
    readonly fd: number,
    readonly pageSize: number,
  ) {}

  set(pgno: number, page: Buffer): void {
    this.#pages.set(pgno, page);
  }

  /** A commit shrank the database: pages past its end are not written. */
  truncate(dbPages: number): void {
    for (const pgno of this.#pages.keys()) if (pgno > dbPages) this.#pages.delete(pgno);
  }

  flush(): void {
    const pgnos = [...this.#pages.keys()].sort((a, b) => a - b);
    for (let i = 0; i < pgnos.length; ) {
      let j = i + 1;
      while (j < pgnos.length && j - i < IOV_MAX && pgnos[j] === pgnos[j - 1]! + 1) j++;
      const run = pgnos.slice(i, j).map((pgno) => this.#pages.get(pgno)!);
      writeRun(this.fd, run, (pgnos[i]! - 1) * this.pageSize);
      i = j;
    }
    this.#pages.clear();
  }
}

/** Writes `buffers` back to back from `position`, finishing a short writev with plain writes. */
function writeRun(fd: number, buffers: Buffer[], position: number): void {
  let written = writevSync(fd, buffers, position);
  let at = position;
  for (const b of buffers) {
    if (written >= b.length) {
      written -= b.length;
      at += b.length;
      continue;
    }
    let done = written;
    written = 0;
    while (done < b.length) done += writeSync(fd, b, done, b.length - done, at + done);
    at += b.length;
  }
}

function lateRefusal(
  plan: RestorePlan,
  ms: number,
  done: { txid: number; observedMs: number },
  late: TxRecord,
): LifeboatError {
  return new LifeboatError(
    'PITR_TARGET_UNRESTORABLE',
    `time ${iso(ms)} of database ${plan.dbId} falls where transactions were captured late: txid ${late.txid} ` +
      `was observed at ${iso(late.observedMs)} but committed at an unknown time before, so the state at that time ` +
      `is unknown. The nearest points: txid ${done.txid} (observed ${iso(done.observedMs)}) and txid ` +
      `${late.txid} and later, by txid`,
    { hint: `restore to txid:${done.txid}, or to the late transactions by txid (txid:${late.txid} …)` },
  );
}

function mismatch(name: string, problem: string): LifeboatError {
  return new LifeboatError('PITR_OBJECT_MISMATCH', `segment ${name} does not continue the chain: ${problem}`, {
    hint: 'an object was copied, replayed or spliced in the bucket: restore to a point before it, and check the bucket',
  });
}

function malformed(name: string, problem: string): LifeboatError {
  return new LifeboatError('PITR_OBJECT_MALFORMED', `segment ${name} is malformed: ${problem}`, {
    hint:
      'the object authenticated, so it was written with your key, but SQLite would not accept its frames: ' +
      'a Lifeboat bug or a newer version wrote it — report it; restore to a point before it',
  });
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
