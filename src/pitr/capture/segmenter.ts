import type { EncryptionKey } from '../../crypto/keys.js';
import { readFully } from '../../fs/read.js';
import { frameChecksum } from '../../sqlite/wal.js';
import { FRAME_HEADER_BYTES } from '../../sqlite/wal-header.js';
import type { RollingChecksum } from '../rolling.js';
import { type EncodedSegment, type EncodeOptions, encodeSegment, type SegmentRecord } from '../segment.js';
import {
  epochStart,
  frameBytesOf,
  frameOffset,
  isBigEndianWal,
  transactionBytes,
  type WalPosition,
  type WalTransaction,
} from './wal-tail.js';

/**
 * Turns committed WAL transactions into sealed LBS1 segments (spec §3.2 step 4, §3.4): numbers
 * them (txid), reads their frames from the `-wal` once more, checks SQLite's running checksum
 * again on the way (the bytes sealed are the bytes that were scanned, or the generation stops),
 * keeps the rolling database checksum, and cuts segments at `segmentMax` bytes of records — a
 * transaction larger than that is split at a frame boundary (`continues`, then `CONT`).
 */

/** What the chain has reached: the state every next segment continues. */
export interface ChainState {
  readonly dbId: string;
  readonly genId: string;
  readonly pageSize: number;
  /** The last sealed seq (0 before the first segment). */
  seq: number;
  /** The digest the next segment names as its prevDigest (the first base's, for seq 1). */
  prevDigest: Buffer;
  /** The last txid given to a transaction. */
  txid: number;
  readonly rolling: RollingChecksum;
  /** Where the next segment's frames start: its walHeader, startFrame, s0, s1. */
  position: WalPosition;
  /** Pages in the database after the last complete transaction. */
  dbPages: number;
  /** The largest observedMs sealed so far (observation times never go back). */
  lastObservedMs: number;
  /** The next segment starts SQLite's WAL chain afresh: capture resumed the chain after a restart (§3.9). */
  resumes?: boolean;
}

/** A committed transaction waiting to be sealed, and when capture saw it. */
export interface PendingTransaction {
  readonly tx: WalTransaction;
  readonly observedMs: number;
  /** Committed before capture saw it, at an unknown time before observedMs (read after a restart; spec §3.9). */
  readonly late?: boolean;
  /** Its frames, when they were read before the WAL could restart (a checkpoint cycle); else read at sealing. */
  readonly frames?: Buffer;
}

/**
 * Where a segment's last complete transaction ends in the WAL, and the database's size there: a
 * restart after a crash can read on from it when the WAL still holds it (spec §3.9 case A).
 */
export interface WalEnd {
  readonly position: WalPosition;
  readonly dbPages: number;
}

export type SealedSegment = EncodedSegment & { readonly ciphertext: Buffer; readonly walEnd: WalEnd };

/** The WAL and SQLite disagree with what was scanned: the chain cannot go on (a new generation). */
export class WalChangedError extends Error {}

const TX_HEAD_BYTES = 42;
const CONT_BYTES = 9;
const EPOCH_BYTES = 33;

/**
 * Seals `pending` (in commit order) into one or more segments continuing `state`, which it
 * advances. Frames not held in memory are read from `fd`, the `-wal`, while capture's reader
 * keeps them there.
 */
export async function sealTransactions(
  fd: number,
  state: ChainState,
  pending: readonly PendingTransaction[],
  key: EncryptionKey,
  segmentMax: number,
  options: Pick<EncodeOptions, 'compressor'> = {},
): Promise<SealedSegment[]> {
  const out: SealedSegment[] = [];
  let records: SegmentRecord[] = [];
  let bytes = 0;
  let start = snapshot(state);

  const flush = async () => {
    if (records.length === 0) return;
    const sealed = await encodeSegment(
      {
        dbId: state.dbId,
        genId: state.genId,
        seq: state.seq + 1,
        pageSize: state.pageSize,
        walHeader: start.position.header,
        startFrame: start.position.nextFrame,
        s0: start.position.s0,
        s1: start.position.s1,
        prevDigest: state.prevDigest,
        rollingBefore: start.rolling,
        dbPagesBefore: start.dbPages,
        ...(state.resumes ? { resumes: true } : {}),
      },
      records,
      key,
      options,
    );
    state.seq += 1;
    state.prevDigest = sealed.digest;
    state.resumes = false;
    out.push({ ...sealed, walEnd: { position: state.position, dbPages: state.dbPages } });
    records = [];
    bytes = 0;
    start = snapshot(state);
  };

  // Frames are read into a few large buffers rather than one per transaction: a thousand small
  // allocations a second fragment the native heap, and the capture process's memory grew with it.
  let unread = pending.reduce((n, p) => n + (p.frames ? 0 : transactionBytes(p.tx)), 0);
  let arena = Buffer.alloc(0);
  let used = 0;
  const space = (bytes: number): Buffer => {
    if (used + bytes > arena.length) {
      arena = Buffer.allocUnsafe(Math.max(bytes, Math.min(unread, segmentMax)));
      used = 0;
    }
    used += bytes;
    unread -= bytes;
    return arena.subarray(used - bytes, used);
  };

  for (const { tx, observedMs, late, frames: held } of pending) {
    if (!tx.header.equals(state.position.header)) {
      if (state.position.header.length === 0) {
        // The generation's first epoch: segments start in it, no EPOCH record is needed.
        state.position = epochStart(tx.header);
        if (records.length === 0) start = snapshot(state);
      } else {
        if (bytes + EPOCH_BYTES + TX_HEAD_BYTES + frameBytesOf(tx.header) > segmentMax) await flush();
        records.push({ type: 'epoch', walHeader: tx.header });
        bytes += EPOCH_BYTES;
        state.position = epochStart(tx.header);
      }
    }
    if (tx.firstFrame !== state.position.nextFrame || tx.s0 !== state.position.s0 || tx.s1 !== state.position.s1) {
      throw new WalChangedError(
        `transaction at WAL frame ${tx.firstFrame} does not follow frame ${state.position.nextFrame - 1}`,
      );
    }
    const txid = state.txid + 1;
    const ms = Math.max(observedMs, state.lastObservedMs);
    const frameBytes = frameBytesOf(tx.header);
    // A segment that goes on with this transaction starts from the checksum after the last commit
    // (spec §3.4: rollingBefore is the database's before its first transaction), not from one with
    // the pages of the transaction's first part in it.
    const committed = state.rolling.value();
    let next = tx.firstFrame;
    let continued = false;
    while (next <= tx.lastFrame) {
      const left = tx.lastFrame - next + 1;
      const head = (continued && records.length === 0 ? CONT_BYTES : 0) + TX_HEAD_BYTES;
      const room = Math.floor((segmentMax - bytes - head) / frameBytes);
      // A transaction that does not fit goes to a fresh segment, and is cut only when none would
      // hold it; right after an EPOCH it is cut at once (a segment cannot end with an EPOCH).
      if (room < left && records.length > 0 && records.at(-1)?.type !== 'epoch') {
        await flush();
        continue;
      }
      const take = Math.max(1, Math.min(left, room));
      const frames = held
        ? readFrames(fd, state, tx.header, next, take, frameBytes, { held, first: tx.firstFrame })
        : readFrames(fd, state, tx.header, next, take, frameBytes, undefined, space(take * frameBytes));
      const last = next + take - 1 === tx.lastFrame;
      if (continued && records.length === 0) records.push({ type: 'cont', txid });
      if (last) state.rolling.truncate(tx.dbPages);
      records.push({
        type: 'tx',
        txid,
        observedMs: ms,
        late: late === true,
        continues: !last,
        dbPages: last ? tx.dbPages : 0,
        rollingAfter: last ? state.rolling.value() : Buffer.alloc(16),
        frames,
      });
      bytes += head + frames.length;
      next += take;
      if (!last) {
        continued = true;
        await flush();
        start = { ...start, rolling: committed };
      }
    }
    state.txid = txid;
    state.dbPages = tx.dbPages;
    state.lastObservedMs = ms;
  }
  await flush();
  return out;
}

function snapshot(state: ChainState) {
  return { position: state.position, rolling: state.rolling.value(), dbPages: state.dbPages };
}

/** Frames first…first+count-1, checked against the chain again, their pages put into the rolling checksum. */
function readFrames(
  fd: number,
  state: ChainState,
  header: Buffer,
  first: number,
  count: number,
  frameBytes: number,
  copy?: { readonly held: Buffer; readonly first: number },
  into?: Buffer,
): Buffer {
  let buf: Buffer;
  if (copy) {
    buf = copy.held.subarray((first - copy.first) * frameBytes, (first - copy.first + count) * frameBytes);
  } else {
    buf = into ?? Buffer.allocUnsafe(count * frameBytes);
    if (readFully(fd, buf, frameOffset(header, first)) < buf.length) {
      throw new WalChangedError(`the WAL ends before frame ${first + count - 1}, which was committed`);
    }
  }
  const bigEndian = isBigEndianWal(header);
  let { s0, s1 } = state.position;
  for (let k = 0; k < count; k++) {
    const frame = buf.subarray(k * frameBytes, (k + 1) * frameBytes);
    const next = frame.subarray(8, 16).equals(header.subarray(16, 24))
      ? frameChecksum(bigEndian, frame, s0, s1)
      : undefined;
    if (!next) {
      throw new WalChangedError(`WAL frame ${first + k} changed after it was read as committed`);
    }
    [s0, s1] = next;
    state.rolling.setPage(frame.readUInt32BE(0), frame.subarray(FRAME_HEADER_BYTES));
  }
  state.position = { header, nextFrame: first + count, s0, s1 };
  return buf;
}
