/**
 * The few facts about SQLite's 32-byte WAL header (spec F1, F5) that the segment format checks
 * structurally: magic, format, page size, checkpoint sequence, salts. Frames of an epoch carry
 * its salts; a restart makes sequence +1 and salt-1 +1. The running checksums (F3) are the WAL
 * parser's business and are re-checked when a restore applies the frames.
 */

export const WAL_HEADER_BYTES = 32;
export const FRAME_HEADER_BYTES = 24;
const MAGIC_LE = 0x377f0682;
const MAGIC_BE = 0x377f0683;
const WAL_FORMAT = 3007000;

export interface WalHeaderFields {
  readonly pageSize: number;
  readonly checkpointSeq: number;
  readonly salt1: number;
  readonly salt2: number;
}

/** The fields of a WAL header, or why it is not one. */
export function readWalHeader(h: Buffer): WalHeaderFields | string {
  if (h.length !== WAL_HEADER_BYTES) return `a WAL header is ${WAL_HEADER_BYTES} bytes, not ${h.length}`;
  const magic = h.readUInt32BE(0);
  if (magic !== MAGIC_LE && magic !== MAGIC_BE) return `WAL magic 0x${magic.toString(16)} is not SQLite's`;
  const format = h.readUInt32BE(4);
  if (format !== WAL_FORMAT) return `WAL format ${format} is not ${WAL_FORMAT}`;
  return {
    pageSize: h.readUInt32BE(8),
    checkpointSeq: h.readUInt32BE(12),
    salt1: h.readUInt32BE(16),
    salt2: h.readUInt32BE(20),
  };
}

/**
 * Whether `next` can follow `prev` by a WAL restart (F5): same page size, salt-1 +1 (wrapping at
 * 2^32). Not the checkpoint sequence: SQLite writes the restarting connection's own count there
 * (zero when it opened, set from the header only by a recovery), so after an application
 * restart, or with two writing connections, a proper restart can carry any sequence — requiring
 * +1 broke a generation at every such restart. Salt-1 comes from the shared wal-index header.
 */
export function continuesEpoch(prev: WalHeaderFields, next: WalHeaderFields): boolean {
  return next.pageSize === prev.pageSize && next.salt1 === (prev.salt1 + 1) >>> 0;
}

export function isPageSize(n: number): boolean {
  return Number.isInteger(n) && n >= 512 && n <= 65536 && (n & (n - 1)) === 0;
}

/** The page holding SQLite's lock bytes (offset 2^30): never written, so never in a frame. */
export function lockBytePage(pageSize: number): number {
  return Math.floor(0x40000000 / pageSize) + 1;
}
