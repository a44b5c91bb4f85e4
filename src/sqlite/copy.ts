import { closeSync, openSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { LifeboatError } from '../errors.js';
import { readFully } from '../fs/read.js';
import Database from './driver.js';
import { ImageChangedError, writeDatabaseImage } from './file-copy.js';
import type { CallerPin, CopyOutcome, CopyProgress, CopyRequest, WalPin } from './protocol.js';
import { parseWalIndexHeader, SHM_HEADER_BYTES, scanWal, type WalIndexHeader, type WalPages } from './wal.js';
import { isPageSize } from './wal-header.js';

/**
 * A consistent online copy of a live database: at file speed under a pinned snapshot
 * (file-copy.ts), or with SQLite's backup API when that snapshot cannot be proven.
 *
 * It runs in a child process of its own (copy-process.ts), never in the application's: POSIX
 * advisory locks belong to a process, and closing any descriptor of the database or of its
 * -shm releases every lock the process holds on that file, those of the application's own
 * connections included (sqlite.org/howtocorrupt.html §2.2). Here the raw descriptors are
 * closed only after the last SQLite connection, in a process that holds no other.
 */

type Connection = InstanceType<typeof Database>;

const ALL_PAGES = 0x7fffffff;
/** Page cache of the copy's connection, KiB: it reads the schema and, on the fallback, each page once. */
const CACHE_KIB = 2048;
const DEFAULT_WRITER_WAIT_MS = 2000;

/** Read-only descriptors of the live files, closed together once no SQLite connection is left. */
class RawFiles {
  readonly #fds: number[] = [];
  open(path: string): number {
    const fd = openSync(path, 'r');
    this.#fds.push(fd);
    return fd;
  }
  closeAll(): void {
    for (const fd of this.#fds.splice(0)) closeSync(fd);
  }
}

export async function copyDatabase(
  request: CopyRequest,
  onProgress?: (progress: CopyProgress) => void,
): Promise<CopyOutcome> {
  const { source, dest } = request;
  if (request.pinnedByCaller) return copyUnderCallersPin(request, request.pinnedByCaller, onProgress);
  const t0 = performance.now();
  const real = realpathSync(source);
  const files = new RawFiles();
  const src = new Database(source, { fileMustExist: true, timeout: 10_000 });
  let journalMode: string;
  let pages: number;
  let fallback: string | undefined;
  let pin: WalPin | undefined;
  try {
    journalMode = String(src.pragma('journal_mode', { simple: true }));
    src.pragma(`cache_size = -${CACHE_KIB}`);
    const fast = await fileCopy(src, request, real, journalMode, files, onProgress);
    if (typeof fast !== 'string') {
      pages = fast.pages;
      if (fast.index) {
        const { salts, mxFrame, frameChecksum } = fast.index;
        pin = { salts: salts.toString('hex'), mxFrame, checksum: frameChecksum };
      }
    } else {
      fallback = fast;
      // The first transfer only sets up; the second copies every page inside one read
      // transaction, so the copy is consistent and, in WAL mode, never blocks writers.
      // (Step-wise copies restart whenever another connection commits and may never finish.)
      pages = (await src.backup(dest, { progress: () => ALL_PAGES })).totalPages;
    }
  } finally {
    src.close();
    files.closeAll();
  }
  if (fallback !== undefined) {
    const db = new Database(dest);
    try {
      // A standalone file: rollback journal mode, so restoring or opening it needs no -wal/-shm.
      db.pragma('journal_mode = DELETE');
    } finally {
      db.close();
    }
  }
  const method = fallback === undefined ? 'file' : 'backup-api';
  const bytes = statSync(dest).size;
  return {
    journalMode,
    pages,
    bytes,
    ms: performance.now() - t0,
    method,
    ...(fallback ? { fallback } : {}),
    ...(pin ? { pin } : {}),
  };
}

/**
 * The file-speed copy of the commit another connection holds a read transaction at: its read
 * mark keeps checkpoints from copying later frames into the file and the WAL from restarting
 * (on read-mark 0 no checkpoint copies anything), so the file's pages with the WAL's frames up to
 * the pin over them are that commit. No connection is opened here: nothing to pin, no lock to lose.
 * A WAL that no longer holds what the pin says fails the copy (SOURCE_CHANGED): the caller's pin
 * was not held.
 */
async function copyUnderCallersPin(
  request: CopyRequest,
  pin: CallerPin,
  onProgress: ((progress: CopyProgress) => void) | undefined,
): Promise<CopyOutcome> {
  const t0 = performance.now();
  const real = realpathSync(request.source);
  const files = new RawFiles();
  const changed = (why: string) =>
    new LifeboatError('SOURCE_CHANGED', `${real} is not the commit its reader pinned: ${why}`, {
      hint: 'the read transaction that pins the commit must be held until the copy ends',
    });
  try {
    if (!isPageSize(pin.pageSize) || !Number.isSafeInteger(pin.pages) || pin.pages < 1) {
      throw new RangeError(`a caller's pin of ${real} with page size ${pin.pageSize} and ${pin.pages} pages`);
    }
    const index: WalIndexHeader = {
      pageSize: pin.pageSize,
      mxFrame: pin.mxFrame,
      nPage: pin.pages,
      frameChecksum: pin.checksum,
      salts: Buffer.from(pin.salts, 'hex'),
      nBackfill: pin.nBackfill,
    };
    const keepHeader = request.keepHeader === true;
    const image = { index, pageSize: pin.pageSize, nPage: pin.pages, keepHeader };
    const problem = await writeSnapshotImage(real, request.dest, files, image, onProgress);
    if (problem !== undefined) throw changed(problem);
  } finally {
    files.closeAll();
  }
  return {
    journalMode: 'wal',
    pages: pin.pages,
    bytes: statSync(request.dest).size,
    ms: performance.now() - t0,
    method: 'file',
    pin: { salts: pin.salts, mxFrame: pin.mxFrame, checksum: pin.checksum },
  };
}

/**
 * The file-speed copy under a pinned snapshot: the pages written and the wal-index header of
 * the pinned commit (WAL mode), or why the snapshot could
 * not be proven (nothing is left at `dest` then). I/O errors are thrown.
 */
async function fileCopy(
  src: Connection,
  request: CopyRequest,
  real: string,
  journalMode: string,
  files: RawFiles,
  onProgress: ((progress: CopyProgress) => void) | undefined,
): Promise<{ pages: number; index: WalIndexHeader | undefined } | string> {
  try {
    let index: WalIndexHeader | undefined;
    if (journalMode === 'wal') {
      const pinned = pinWalSnapshot(src, request.source, real, request.writerWaitMs ?? DEFAULT_WRITER_WAIT_MS, files);
      if (typeof pinned === 'string') return pinned;
      index = pinned;
    } else {
      // Rollback journal: a read transaction's SHARED lock keeps every writer out of the file.
      src.exec('BEGIN');
    }
    const nPage = src.pragma('page_count', { simple: true }) as number;
    const pageSize = src.pragma('page_size', { simple: true }) as number;
    if (index !== undefined && index.mxFrame > 0 && index.nPage !== nPage) {
      return `the wal-index says ${index.nPage} pages, the snapshot has ${nPage}`;
    }
    const keepHeader = request.keepHeader === true;
    const problem = await writeSnapshotImage(
      real,
      request.dest,
      files,
      { index, pageSize, nPage, keepHeader },
      onProgress,
    );
    if (problem !== undefined) return problem;
    return { pages: nPage, index };
  } finally {
    if (src.inTransaction) src.exec('ROLLBACK');
  }
}

/**
 * Writes the snapshot at `dest` (a new file): the database file's pages with, when `index`
 * describes a commit not all checkpointed, the WAL's frames up to it over them — while a read
 * transaction somewhere pins that commit. Returns why the WAL did not hold what was pinned; on
 * that and on any error nothing is left at `dest`.
 */
async function writeSnapshotImage(
  real: string,
  dest: string,
  files: RawFiles,
  image: { index: WalIndexHeader | undefined; pageSize: number; nPage: number; keepHeader: boolean },
  onProgress: ((progress: CopyProgress) => void) | undefined,
): Promise<string | undefined> {
  const { index, pageSize, nPage, keepHeader } = image;
  // Frames not yet checkpointed are part of the snapshot; once all are, the file holds it alone.
  let wal: { fd: number; pages: WalPages } | undefined;
  if (index !== undefined && index.mxFrame > index.nBackfill) {
    const fd = files.open(`${real}-wal`);
    const pages = scanWal(fd, index); // its last commit must say index.nPage pages
    if (typeof pages === 'string') return `${pages} (${real}-wal)`;
    wal = { fd, pages };
  }
  const dbFd = files.open(real);
  const destFd = openSync(dest, 'wx', 0o600);
  try {
    onProgress?.({ progress: 'image', bytes: nPage * pageSize });
    await writeDatabaseImage({ dbFd, pageSize, nPage, keepHeader, ...(wal ? { wal } : {}) }, destFd, (bytes) =>
      onProgress?.({ progress: 'written', bytes }),
    );
    return undefined;
  } catch (err) {
    unlinkSync(dest);
    if (err instanceof ImageChangedError) return err.message;
    throw err;
  } finally {
    closeSync(destFd);
  }
}

/**
 * Starts a read transaction on `src` at the newest commit and returns the wal-index header
 * that describes exactly that commit. A second connection holds the write lock for the
 * moment in between (BEGIN IMMEDIATE), so no commit can slip between the snapshot and the
 * header read; writers wait milliseconds, not for the copy. The read transaction's read mark
 * then keeps checkpoints from copying later frames into the file and the WAL from restarting.
 */
function pinWalSnapshot(
  src: Connection,
  source: string,
  real: string,
  waitMs: number,
  files: RawFiles,
): WalIndexHeader | string {
  const gate = new Database(source, { fileMustExist: true, timeout: waitMs });
  try {
    try {
      gate.exec('BEGIN IMMEDIATE');
    } catch (err) {
      return `no pause between the application's write transactions within ${waitMs} ms (${(err as Error).message})`;
    }
    try {
      src.exec('BEGIN');
      src.pragma('schema_version'); // the read transaction starts here, while no one can commit
      let shmFd: number;
      try {
        shmFd = files.open(`${real}-shm`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `there is no ${real}-shm`;
        throw err;
      }
      const shm = Buffer.alloc(SHM_HEADER_BYTES);
      const index = parseWalIndexHeader(shm.subarray(0, readFully(shmFd, shm, 0)));
      return typeof index === 'string' ? `${index} (${real}-shm)` : index;
    } finally {
      gate.exec('ROLLBACK');
    }
  } finally {
    gate.close();
  }
}
