import { readFully } from '../../fs/read.js';
import { checkWalHeader, frameChecksum } from '../../sqlite/wal.js';
import { continuesEpoch, FRAME_HEADER_BYTES, readWalHeader, WAL_HEADER_BYTES } from '../../sqlite/wal-header.js';

/**
 * Capture's view of the live `-wal` file (spec §3.2 step 1): from the position after the last
 * shipped commit, the frames that follow, checked the way SQLite's own recovery checks them —
 * the salts of the header in force, the running checksum frame by frame (F3) — and cut after
 * the last commit frame (F4): frames of a transaction still open may be rewritten before it
 * commits, so they are read again at the next tick, never shipped. A changed WAL header is a
 * restart (F5), a continuation only when its salt-1 advances by one (continuesEpoch). With the
 * wal-index header (`published`), nothing past what SQLite itself counts as committed is read.
 *
 * The file is read with positional reads on a descriptor of the `-wal`, which carries no
 * POSIX locks (F14), so this runs in any process. Frames are not kept: a transaction is
 * returned as a range of frames and read again when its segment is sealed (capture's reader
 * keeps the WAL from restarting until then), so a transaction of any size costs no memory here.
 */

/**
 * What the wal-index says is committed (wal-index.ts): frames past `mxFrame`, or of an epoch with
 * other salts, are not read even when their checksums and commit marker are valid.
 */
export interface Published {
  readonly salts: Buffer;
  readonly mxFrame: number;
  /** SQLite's running checksum after frame `mxFrame`. */
  readonly frameChecksum?: readonly [number, number];
}

/** Where capture stands in the WAL: the epoch's header, the next frame to read and the checksum before it. */
export interface WalPosition {
  /** The 32-byte header of the epoch (salts, checkpoint sequence, magic); empty before the WAL's first frame. */
  readonly header: Buffer;
  /** 1-based index of the next frame in this epoch. */
  readonly nextFrame: number;
  readonly s0: number;
  readonly s1: number;
  /**
   * With an empty header and no wal-index header given: the salts the next epoch's header must
   * carry (the wal-index announces them at a restart, before the first frame rewrites the header).
   * Until then the file still starts with the previous epoch's header, whose frames are all in the
   * database file already. Capture passes the wal-index header instead, which also covers a
   * connection that writes fresh random salts.
   */
  readonly expectSalts?: Buffer;
  /**
   * An epoch taken up while awaiting one (a generation's first, pinned with no frame in the WAL),
   * of which no frame has been read yet. Another header may still replace it: a connection that
   * never restarted the WAL itself (an application started after a crash) writes a fresh header
   * with random salts over a WAL with no committed frame. Nothing of the epoch was committed, and
   * nothing was shipped in it, so following the new header loses nothing.
   */
  readonly provisional?: boolean;
}

/** One committed transaction: frames `firstFrame`…`lastFrame` of the epoch `header`. */
export interface WalTransaction {
  readonly header: Buffer;
  readonly firstFrame: number;
  readonly lastFrame: number;
  /** Database size in pages after the commit (the commit frame's field). */
  readonly dbPages: number;
  /** The running checksum before `firstFrame`. */
  readonly s0: number;
  readonly s1: number;
}

export type TailResult =
  /** Transactions committed since `from` (possibly none) and the position after the last one. */
  | { readonly kind: 'commits'; readonly transactions: readonly WalTransaction[]; readonly end: WalPosition }
  /** The WAL restarted as a continuation of the epoch: read on from frame 1 of `position`. */
  | { readonly kind: 'restart'; readonly position: WalPosition }
  /** What is in the file does not continue what capture shipped. */
  | { readonly kind: 'broken'; readonly reason: string };

/** Frames read per system call. */
const BATCH_FRAMES = 64;

export function isBigEndianWal(header: Buffer): boolean {
  return header.readUInt32BE(0) === 0x377f0683;
}

export function frameBytesOf(header: Buffer): number {
  return FRAME_HEADER_BYTES + header.readUInt32BE(8);
}

/** Bytes of a transaction's frames in the WAL (headers and pages). */
export function transactionBytes(tx: WalTransaction): number {
  return (tx.lastFrame - tx.firstFrame + 1) * frameBytesOf(tx.header);
}

/** Byte offset of frame `n` (1-based) in a WAL with this header. */
export function frameOffset(header: Buffer, n: number): number {
  return WAL_HEADER_BYTES + (n - 1) * frameBytesOf(header);
}

/** Before the epoch's header is on file: the first valid header (with `salts`, when given) starts it. */
export function awaitingEpoch(salts?: Buffer): WalPosition {
  return { header: Buffer.alloc(0), nextFrame: 1, s0: 0, s1: 0, ...(salts ? { expectSalts: salts } : {}) };
}

/** The position at the start of an epoch: frame 1, the checksum the header carries. */
export function epochStart(header: Buffer): WalPosition {
  return { header, nextFrame: 1, s0: header.readUInt32BE(24), s1: header.readUInt32BE(28) };
}

/** Reads the WAL header; undefined when the file is shorter than one (no frame was ever written). */
export function readHeaderAt(fd: number): Buffer | undefined {
  const header = Buffer.alloc(WAL_HEADER_BYTES);
  return readFully(fd, header, 0) === WAL_HEADER_BYTES ? header : undefined;
}

/**
 * The committed transactions after `from` in the WAL open at `fd`. `limitFrames` bounds one
 * call (a tick) so that a huge backlog is read in steps; the rest comes at the next call.
 */
export function readCommitted(
  fd: number,
  from: WalPosition,
  limitFrames = Number.MAX_SAFE_INTEGER,
  published?: Published,
): TailResult {
  const wait: TailResult = { kind: 'commits', transactions: [], end: from };
  const header = readHeaderAt(fd);
  if (header === undefined) return wait;
  // An epoch the wal-index has not published (a restart under way, or a header it never adopted): not yet.
  if (published && !published.salts.equals(header.subarray(16, 24))) return wait;
  if (!header.equals(from.header)) {
    const checked = checkWalHeader(header);
    if (typeof checked === 'string') {
      // A header being rewritten (a restart in progress) reads torn: look again at the next tick.
      return wait;
    }
    // No epoch yet (the WAL was empty when the base was pinned): everything in the next one is new.
    if (from.header.length === 0) {
      // With the wal-index (checked above: this header is the live epoch's), any header is the next epoch:
      // a connection that never restarted the WAL writes random salts, not those announced at the pin.
      if (!published && from.expectSalts && !header.subarray(16, 24).equals(from.expectSalts)) {
        return wait;
      }
      return { kind: 'restart', position: { ...epochStart(header), provisional: true } };
    }
    if (from.provisional && from.nextFrame === 1)
      return { kind: 'restart', position: { ...epochStart(header), provisional: true } };
    const before = readWalHeader(from.header);
    const after = checked.fields;
    if (typeof before === 'string' || !continuesEpoch(before, after)) {
      const fields = (h: typeof before) => (typeof h === 'string' ? h : `salt-1 ${h.salt1}, page size ${h.pageSize}`);
      return {
        kind: 'broken',
        reason:
          `the WAL header changed (${fields(after)}) to one that is not the restart following the epoch capture ` +
          `was reading at frame ${from.nextFrame} (${fields(before)})`,
      };
    }
    return { kind: 'restart', position: epochStart(header) };
  }

  const bigEndian = isBigEndianWal(header);
  const frameBytes = frameBytesOf(header);
  const salts = header.subarray(16, 24);
  const buf = Buffer.alloc(frameBytes * BATCH_FRAMES);
  const transactions: WalTransaction[] = [];
  let { s0, s1 } = from;
  let txStart = from.nextFrame;
  let txS0 = s0;
  let txS1 = s1;
  let end: WalPosition = from;
  let n = from.nextFrame;
  const stop = Math.min(from.nextFrame + limitFrames, (published?.mxFrame ?? Number.MAX_SAFE_INTEGER - 1) + 1);
  scan: while (n < stop) {
    const count = Math.min(BATCH_FRAMES, stop - n);
    const got = Math.floor(readFully(fd, buf.subarray(0, count * frameBytes), frameOffset(header, n)) / frameBytes);
    for (let k = 0; k < got; k++, n++) {
      const frame = buf.subarray(k * frameBytes, (k + 1) * frameBytes);
      if (!frame.subarray(8, 16).equals(salts)) break scan;
      const next = frameChecksum(bigEndian, frame, s0, s1);
      if (!next) break scan;
      [s0, s1] = next;
      if (frame.readUInt32BE(0) === 0) break scan;
      const dbPages = frame.readUInt32BE(4);
      if (dbPages === 0) continue;
      transactions.push({ header, firstFrame: txStart, lastFrame: n, dbPages, s0: txS0, s1: txS1 });
      end = { header, nextFrame: n + 1, s0, s1 };
      txStart = n + 1;
      txS0 = s0;
      txS1 = s1;
    }
    if (got < count) break;
  }
  // What the wal-index published must continue the chain capture read: frames up to mxFrame were
  // written before it was published and cannot change while capture's reader holds them. A chain
  // that does not reach it, or reaches it with another running checksum, would otherwise be a
  // silent stall (nothing read, tick after tick) — end the generation instead.
  if (published && stop === published.mxFrame + 1) {
    if (end.nextFrame <= published.mxFrame) {
      return {
        kind: 'broken',
        reason:
          `the wal-index says WAL frames up to ${published.mxFrame} are committed, but from frame ${end.nextFrame} ` +
          'they do not continue the chain capture read',
      };
    }
    const sum = published.frameChecksum;
    if (sum && end.nextFrame > 1 && (end.s0 !== sum[0] || end.s1 !== sum[1])) {
      return {
        kind: 'broken',
        reason: `the running checksum after WAL frame ${published.mxFrame} is not the one the wal-index recorded`,
      };
    }
  }
  return { kind: 'commits', transactions, end };
}

/**
 * The position right after frame `mxFrame` of the epoch whose salts are `salts`, proven by
 * reading frames 1…mxFrame (their chain must end in `checksum`, as the wal-index recorded it);
 * or why it cannot be proven. This is where capture starts after a base pinned at that frame.
 */
export function positionAfter(
  fd: number,
  pin: { readonly salts: Buffer; readonly mxFrame: number; readonly checksum: readonly [number, number] },
): WalPosition | string {
  if (pin.mxFrame === 0) return awaitingEpoch(pin.salts);
  const header = readHeaderAt(fd);
  if (header === undefined) return 'the WAL has no header, but the snapshot had frames in it';
  const checked = checkWalHeader(header);
  if (typeof checked === 'string') return checked;
  if (!header.subarray(16, 24).equals(pin.salts)) return 'the WAL restarted after the snapshot was pinned';
  const read = readCommitted(fd, epochStart(header), pin.mxFrame);
  if (read.kind !== 'commits') return 'the WAL changed while it was read';
  const end = read.end;
  if (end.nextFrame !== pin.mxFrame + 1)
    return `the WAL's committed frames end at ${end.nextFrame - 1}, not ${pin.mxFrame}`;
  if (end.s0 !== pin.checksum[0] || end.s1 !== pin.checksum[1]) {
    return "the WAL's running checksum at the snapshot is not the one the wal-index recorded";
  }
  return end;
}
