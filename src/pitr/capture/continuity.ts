import { read, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { heldDescriptor } from '../../fs/held.js';
import { readFully } from '../../fs/read.js';
import { checkWalHeader, scanWal, type WalIndexHeader } from '../../sqlite/wal.js';
import { continuesEpoch, readWalHeader } from '../../sqlite/wal-header.js';
import { RollingChecksum } from '../rolling.js';
import type { WalEnd } from './segmenter.js';
import { readCommitted, readHeaderAt, type WalPosition, type WalTransaction } from './wal-tail.js';

/**
 * The database as it was where a chain ended in the WAL (spec §3.9 case A), rebuilt after a
 * crash: the database file overlaid with the newest copy of each page in the WAL's frames up
 * to that end, cut to the size of its last commit. When that image hashes to the chain's
 * rolling checksum, the frames after the end are exactly the transactions the bucket lacks,
 * and capture can read them from the WAL instead of beginning a new generation.
 *
 * Nothing here is trusted without that hash: the frames up to the end must be the epoch the
 * chain ended in (same header, every frame's salts and running checksum up to the one saved);
 * a WAL that restarted since must be the restart that follows it (then the database file holds
 * the epoch's end, if nothing after it was committed and checkpointed). A checkpoint that copied
 * later frames into the database file — during the downtime, or while this reads it — leaves
 * pages of later commits there, and the hash does not match: the caller begins a new generation.
 *
 * The database file is read through a descriptor that is never closed (fs/held.ts): capture may
 * run in the application's process, whose SQLite locks a close would release.
 */

/** Bytes of the database file read per step (whole pages for every page size). */
const READ_BYTES = 1 << 20;
const readAt = promisify(read);

/** The database rebuilt at a chain's end: its checksum with the page table, and how it was had. */
export interface RebuiltEnd {
  readonly rolling: RollingChecksum;
  /** The WAL had restarted after the chain's epoch: the database file alone was hashed (nothing overlaid). */
  readonly followsRestart: boolean;
}

/**
 * The rolling checksum, with its page table, of the database at `end`; or why it cannot be
 * rebuilt. `walFd` is a descriptor of the live `-wal` (undefined: there is none).
 */
export async function rollingAtWalEnd(
  dbPath: string,
  walFd: number | undefined,
  end: WalEnd,
  pageSize: number,
): Promise<RebuiltEnd | string> {
  const saved = end.position.header;
  const header = walFd === undefined ? undefined : readHeaderAt(walFd);
  if (!header) return 'the WAL is gone or empty';
  let offsets: ReadonlyMap<number, number> = new Map();
  const sameEpoch = header.equals(saved);
  if (sameEpoch) {
    const frames = end.position.nextFrame - 1;
    if (frames > 0) {
      const scanned = scanWal(walFd!, {
        pageSize,
        mxFrame: frames,
        nPage: end.dbPages,
        frameChecksum: [end.position.s0, end.position.s1],
        salts: saved.subarray(16, 24),
        nBackfill: 0,
      });
      if (typeof scanned === 'string') return `the WAL's frames 1…${frames} are not those shipped: ${scanned}`;
      offsets = scanned.offsets;
    }
  } else {
    const before = readWalHeader(saved);
    const now = checkWalHeader(header);
    if (typeof before === 'string' || typeof now === 'string' || !continuesEpoch(before, now.fields))
      return 'the WAL started over with a header that does not follow the epoch the chain ended in';
    // A restart follows only a checkpoint of the whole epoch: the database file holds its end.
  }
  const dbFd = heldDescriptor(dbPath, statSync(dbPath).ino);
  const rolling = new RollingChecksum(pageSize);
  const perRead = Math.max(1, Math.floor(READ_BYTES / pageSize));
  const chunk = Buffer.alloc(perRead * pageSize);
  const fromWal = Buffer.alloc(pageSize);
  for (let first = 1; first <= end.dbPages; first += perRead) {
    const count = Math.min(perRead, end.dbPages - first + 1);
    const want = count * pageSize;
    let got = 0;
    while (got < want) {
      const { bytesRead } = await readAt(dbFd, chunk, got, want - got, (first - 1) * pageSize + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    // Pages past the file's end are zero pages, as ftruncate leaves them (rolling.ts).
    chunk.fill(0, got, want);
    for (let k = 0; k < count; k++) {
      const pgno = first + k;
      const at = offsets.get(pgno);
      if (at !== undefined && readFully(walFd!, fromWal, at) < pageSize) return `the WAL ends inside page ${pgno}`;
      rolling.setPage(pgno, at !== undefined ? fromWal : chunk.subarray(k * pageSize, (k + 1) * pageSize));
    }
  }
  rolling.truncate(end.dbPages);
  return { rolling, followsRestart: !sameEpoch };
}

/**
 * The transactions after the chain's end `from` (case A): every one the wal-index `published`
 * counts as committed, read at once. Until capture has read them its reader may not keep them in
 * the WAL: one that began on a fully checkpointed WAL (read-lock 0) lets the application's next
 * commit restart it over them, and a restart after them reads as one that continues the chain,
 * leaving them out. So they are taken only while the wal-index publishes the epoch they are in, up
 * to its end (`checkpointed`: all of it is in the database file, and the caller reads their frames
 * into memory before anything else). A restart is followed only when the rebuild already saw it
 * (`restartSeen`, it hashed the database file alone): one that came after the rebuild overlaid the
 * frames may have followed commits the overlay hid, now only in the database file.
 */
export function tailAfter(
  walFd: number,
  from: WalPosition,
  published: WalIndexHeader,
  restartSeen: boolean,
): { transactions: readonly WalTransaction[]; end: WalPosition; checkpointed: boolean } | string {
  const got = readCommitted(walFd, from, undefined, published);
  if (got.kind === 'broken') return got.reason;
  if (got.kind === 'restart') {
    if (!restartSeen) return 'the WAL restarted while the database was rebuilt at the chain’s end';
    return tailAfter(walFd, got.position, published, false);
  }
  if (!stillPublished(got.end, published))
    return 'the wal-index publishes another epoch than the one after the chain’s end (a restart under way)';
  return { transactions: got.transactions, end: got.end, checkpointed: published.nBackfill >= published.mxFrame };
}

/** Whether the wal-index still publishes the epoch of `end`, up to it at least (no restart since). */
export function stillPublished(end: WalPosition, published: WalIndexHeader | undefined): boolean {
  return (
    published !== undefined &&
    end.header.length > 0 &&
    published.salts.equals(end.header.subarray(16, 24)) &&
    published.mxFrame >= end.nextFrame - 1
  );
}
