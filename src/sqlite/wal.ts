import { endianness } from 'node:os';
import { readFully } from '../fs/read.js';
import { FRAME_HEADER_BYTES, isPageSize, readWalHeader, WAL_HEADER_BYTES, type WalHeaderFields } from './wal-header.js';

/**
 * Reading a live database's WAL without SQLite, which has no API for it: the wal-index header
 * in `-shm` (how many frames are committed, and the checksum of the last), the WAL's running
 * checksums (that the frames read are exactly those SQLite committed), and the newest frame
 * of each page up to that commit. The file-speed snapshot (file-copy.ts) applies those frames
 * over the database file; continuous backup's capture reads the same frames. Layouts:
 * sqlite.org/walformat.html §2.1 (wal-index header) and sqlite.org/fileformat2.html §4 (WAL).
 * Every check that fails returns a reason instead of a value: the caller then falls back to
 * SQLite's own copy rather than trusting bytes it could not prove.
 */

/** The wal-index header and checkpoint info: the first 136 bytes of `-shm`, in native byte order. */
export const SHM_HEADER_BYTES = 136;
const INDEX_HEADER_BYTES = 48;
const INDEX_VERSION = 3007000;
const BIG_ENDIAN_HOST = endianness() === 'BE';
/** The checksums' aligned copy of unaligned data (they are synchronous, so one is enough), and its bytes. */
let scratch = new Int32Array((64 * 1024 + 24) / 4);
let scratchBytes = Buffer.from(scratch.buffer);
/** The running sums between two runs of words (frameChecksum: the frame header's first 8 bytes, then the page). */
const sums = new Int32Array(2);

export interface WalIndexHeader {
  readonly pageSize: number;
  /** Frames committed in the WAL (the last one is a commit frame). */
  readonly mxFrame: number;
  /** Pages in the database as of frame `mxFrame`. */
  readonly nPage: number;
  /** The running checksum after frame `mxFrame`. */
  readonly frameChecksum: readonly [number, number];
  /** The WAL header's two salts, as its bytes 16–23 hold them. */
  readonly salts: Buffer;
  /** Frames already copied back into the database file by checkpoints. */
  readonly nBackfill: number;
}

/** The committed state of the WAL as the wal-index records it, or why it cannot be trusted. */
export function parseWalIndexHeader(shm: Buffer): WalIndexHeader | string {
  if (shm.length < SHM_HEADER_BYTES) return `the -shm file is ${shm.length} bytes, shorter than its header`;
  const first = shm.subarray(0, INDEX_HEADER_BYTES);
  if (!first.equals(shm.subarray(INDEX_HEADER_BYTES, 2 * INDEX_HEADER_BYTES))) {
    return 'the two copies of the wal-index header differ (a writer is updating it)';
  }
  const le = endianness() === 'LE';
  const u32 = (at: number) => (le ? shm.readUInt32LE(at) : shm.readUInt32BE(at));
  if (u32(0) !== INDEX_VERSION) return `the wal-index version is ${u32(0)}, not ${INDEX_VERSION}`;
  if (shm[12] !== 1) return 'the wal-index header is not initialised';
  const [c0, c1] = walChecksum(!le, shm.subarray(0, 40), 0, 0);
  if (c0 !== u32(40) || c1 !== u32(44)) return 'the wal-index header checksum does not match';
  // szPage holds the page size with 65536 folded into bit 0 (SQLite's u16 encoding).
  const sz = le ? shm.readUInt16LE(14) : shm.readUInt16BE(14);
  const pageSize = (sz & 0xfe00) + ((sz & 1) << 16);
  // An empty WAL (no frame yet, e.g. just opened after a full checkpoint) has no page size yet.
  if (u32(16) > 0 && !isPageSize(pageSize)) return `the wal-index page size ${pageSize} is not a page size`;
  return {
    pageSize,
    mxFrame: u32(16),
    nPage: u32(20),
    frameChecksum: [u32(24), u32(28)],
    salts: Buffer.from(shm.subarray(32, 40)),
    nBackfill: u32(96),
  };
}

/**
 * SQLite's WAL checksum over `data` (a multiple of 8 bytes), continuing from (s0, s1); the
 * words are big-endian when `bigEndian` (the WAL magic says which).
 */
export function walChecksum(bigEndian: boolean, data: Uint8Array, s0: number, s1: number): [number, number] {
  if (bigEndian === BIG_ENDIAN_HOST) {
    sums[0] = s0;
    sums[1] = s1;
    sumWords(hostWords(data), 0, data.byteLength >>> 2);
    return [sums[0]! >>> 0, sums[1]! >>> 0];
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const little = !bigEndian;
  let a = s0;
  let b = s1;
  for (let i = 0; i + 8 <= data.byteLength; i += 8) {
    a = (a + view.getUint32(i, little) + b) >>> 0;
    b = (b + view.getUint32(i + 4, little) + a) >>> 0;
  }
  return [a, b];
}

/**
 * Words in this machine's order, read as a typed array — from an aligned copy when the data is
 * not 4-byte aligned (frames inside a segment often are not) — rather than through a DataView
 * (5.4 µs per 4 KiB frame here); a restore checks every frame it applies, capture every frame it
 * ships. The copy may be longer than the data: callers bound their reads by the data's length.
 */
function hostWords(data: Uint8Array): Int32Array {
  if (data.byteOffset % 4 === 0) return new Int32Array(data.buffer, data.byteOffset, data.byteLength >>> 2);
  if (scratchBytes.length < data.byteLength) {
    scratch = new Int32Array(Math.ceil(Math.max(data.byteLength, 2 * scratchBytes.length) / 4));
    scratchBytes = Buffer.from(scratch.buffer);
  }
  scratchBytes.set(data);
  return scratch;
}

/**
 * SQLite's checksum over words [from, end) in pairs, continuing from `sums` and left there.
 * Signed words and `| 0`: V8 keeps the sums in int32 registers (adds wrap mod 2^32 as SQLite's
 * u32 do); uint32 words and `>>> 0` made every add a float64 one, 7× slower (4.9 → 0.7 µs a frame).
 */
function sumWords(words: Int32Array, from: number, end: number): void {
  let a = sums[0]!;
  let b = sums[1]!;
  for (let i = from; i + 1 < end; i += 2) {
    a = (a + words[i]! + b) | 0;
    b = (b + words[i + 1]! + a) | 0;
  }
  sums[0] = a;
  sums[1] = b;
}

/** A WAL header SQLite would accept: its fields, word order, and its checksum (where frame 1's chain starts). */
export interface CheckedWalHeader {
  readonly fields: WalHeaderFields;
  readonly bigEndian: boolean;
  readonly s0: number;
  readonly s1: number;
}

/** Checks a 32-byte WAL header (magic, format, its own checksum): the snapshot's scan, capture and restore. */
export function checkWalHeader(header: Buffer): CheckedWalHeader | string {
  const fields = readWalHeader(header);
  if (typeof fields === 'string') return fields;
  const bigEndian = header.readUInt32BE(0) === 0x377f0683;
  const [s0, s1] = walChecksum(bigEndian, header.subarray(0, 24), 0, 0);
  if (s0 !== header.readUInt32BE(24) || s1 !== header.readUInt32BE(28)) return 'the WAL header checksum does not match';
  return { fields, bigEndian, s0, s1 };
}

/**
 * The running checksum after `frame` (24-byte header + page), continuing from (s0, s1), or
 * undefined when the frame's own checksum fields say otherwise: the frame is not part of the log (F3).
 */
export function frameChecksum(bigEndian: boolean, frame: Buffer, s0: number, s1: number): [number, number] | undefined {
  let c0: number;
  let c1: number;
  if (bigEndian === BIG_ENDIAN_HOST) {
    // One view (or copy) of the whole frame, summed in two runs: capture and restore check every frame, and two
    // subarrays, two word views and an intermediate pair per frame were a fair part of a restore's garbage.
    const words = hostWords(frame);
    sums[0] = s0;
    sums[1] = s1;
    sumWords(words, 0, 2);
    sumWords(words, FRAME_HEADER_BYTES >>> 2, frame.length >>> 2);
    c0 = sums[0]! >>> 0;
    c1 = sums[1]! >>> 0;
  } else {
    [c0, c1] = walChecksum(bigEndian, frame.subarray(0, 8), s0, s1);
    [c0, c1] = walChecksum(bigEndian, frame.subarray(FRAME_HEADER_BYTES), c0, c1);
  }
  return c0 === frame.readUInt32BE(16) && c1 === frame.readUInt32BE(20) ? [c0, c1] : undefined;
}

/** Where the newest committed version of each page is in the WAL file. */
export interface WalPages {
  /** Page number → byte offset of that page's data in the WAL file, newest frame ≤ mxFrame. */
  readonly offsets: ReadonlyMap<number, number>;
  readonly pageSize: number;
  /** Pages in the database as of the last frame. */
  readonly nPage: number;
  /** The salts every frame of this WAL carries. */
  readonly salts: Buffer;
}

/** Frames read per system call while scanning. */
const SCAN_FRAMES = 256;

/**
 * Scans frames 1…`index.mxFrame` of the WAL open at `fd`, checking the header, the salts and
 * the running checksum of every frame against what the wal-index says was committed.
 */
export function scanWal(fd: number, index: WalIndexHeader): WalPages | string {
  const header = Buffer.alloc(WAL_HEADER_BYTES);
  if (readFully(fd, header, 0) < WAL_HEADER_BYTES) return 'the WAL is shorter than its header';
  const checked = checkWalHeader(header);
  if (typeof checked === 'string') return checked;
  const { fields, bigEndian } = checked;
  if (fields.pageSize !== index.pageSize) {
    return `the WAL's page size ${fields.pageSize} is not the wal-index's ${index.pageSize}`;
  }
  if (!header.subarray(16, 24).equals(index.salts)) return "the WAL's salts are not the wal-index's (a restart)";
  let { s0, s1 } = checked;

  const frameBytes = FRAME_HEADER_BYTES + index.pageSize;
  const buf = Buffer.alloc(frameBytes * Math.min(SCAN_FRAMES, Math.max(index.mxFrame, 1)));
  const offsets = new Map<number, number>();
  let nPage = 0;
  for (let first = 1; first <= index.mxFrame; first += SCAN_FRAMES) {
    const count = Math.min(SCAN_FRAMES, index.mxFrame - first + 1);
    const at = WAL_HEADER_BYTES + (first - 1) * frameBytes;
    const got = readFully(fd, buf.subarray(0, count * frameBytes), at);
    if (got < count * frameBytes) return `the WAL ends before frame ${index.mxFrame}`;
    for (let k = 0; k < count; k++) {
      const frame = buf.subarray(k * frameBytes, (k + 1) * frameBytes);
      const n = first + k;
      if (!frame.subarray(8, 16).equals(index.salts)) return `WAL frame ${n} carries other salts`;
      const next = frameChecksum(bigEndian, frame, s0, s1);
      if (!next) return `WAL frame ${n}'s checksum does not match`;
      [s0, s1] = next;
      const pgno = frame.readUInt32BE(0);
      if (pgno === 0) return `WAL frame ${n} names page 0`;
      offsets.set(pgno, at + k * frameBytes + FRAME_HEADER_BYTES);
      nPage = frame.readUInt32BE(4) || nPage;
    }
  }
  if (index.mxFrame > 0) {
    const lastCommit = buf.readUInt32BE(((index.mxFrame - 1) % SCAN_FRAMES) * frameBytes + 4);
    if (lastCommit === 0) return `WAL frame ${index.mxFrame} is not a commit frame`;
    if (lastCommit !== index.nPage) {
      return `the last commit says ${lastCommit} pages, the wal-index ${index.nPage}`;
    }
    if (s0 !== index.frameChecksum[0] || s1 !== index.frameChecksum[1]) {
      return "the WAL's running checksum is not the one the wal-index recorded";
    }
  }
  return { offsets, pageSize: index.pageSize, nPage, salts: index.salts };
}
