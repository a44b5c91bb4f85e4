/**
 * What the SQLite worker (worker.ts) and the copy process (copy-process.ts) are asked and answer. Both sides
 * import these types, so a change to a request or a reply is a compile error on the side not updated.
 */

/**
 * `full` = PRAGMA integrity_check; `none` = the header only. There is no quick_check: a backup
 * must pass what a restore checks, and quick_check misses an index that disagrees with its table.
 */
export type CheckMode = 'full' | 'none';

/** A consistent online copy of a live database into `dest` (a new file), as a standalone rollback-journal file. */
export interface CopyRequest {
  readonly op: 'copy';
  readonly source: string;
  readonly dest: string;
  /**
   * How long the file-speed copy waits for the application's write transaction to end so it
   * can pin a snapshot (default 2000 ms); after that, SQLite's backup API copies instead.
   */
  readonly writerWaitMs?: number;
  /**
   * The caller holds a read transaction at this commit for the whole copy (continuous backup's
   * base inside a generation): the copy opens no connection and pins nothing, it writes the
   * database file's pages with the WAL's frames up to `pin` over them.
   */
  readonly pinnedByCaller?: CallerPin;
  /**
   * Page 1 exactly as SQLite has it (WAL mode's header), not made a standalone rollback-journal
   * file: continuous backup's bases, whose rolling checksum must be the live database's.
   */
  readonly keepHeader?: boolean;
}

/** A commit another connection holds a read transaction at: the wal-index header as it read it, and the size. */
export interface CallerPin extends WalPin {
  readonly pageSize: number;
  /** Pages in the database at that commit (PRAGMA page_count inside the caller's read transaction). */
  readonly pages: number;
  /** Frames checkpoints had copied into the file when the caller read the header. */
  readonly nBackfill: number;
}

/**
 * What the copy process says before its reply. `image`: the copy is written front to back,
 * every byte once and final, `bytes` in all (sent once, when the file exists); `written`: the
 * first `bytes` are written.
 */
export interface CopyProgress {
  readonly progress: 'image' | 'written';
  readonly bytes: number;
}

/** `file`: read at file speed under a pinned snapshot; `backup-api`: SQLite's page-by-page copy. */
export type CopyMethod = 'file' | 'backup-api';

export interface CopyOutcome {
  /** Journal mode of the source (writers are only non-blocking in `wal`). */
  readonly journalMode: string;
  readonly pages: number;
  readonly bytes: number;
  readonly ms: number;
  readonly method: CopyMethod;
  /** Why the file-speed copy was not used, when it was not. */
  readonly fallback?: string;
  /** WAL mode, file-speed copy: the commit the copy is exactly (continuous backup starts capture after it). */
  readonly pin?: WalPin;
}

/** A commit in the WAL as the wal-index recorded it: the epoch's salts (hex), its last frame and checksum. */
export interface WalPin {
  readonly salts: string;
  readonly mxFrame: number;
  readonly checksum: readonly [number, number];
}

/** Header, check and table list of a file Lifeboat owns (a copy: the check may convert it to rollback mode). */
export interface VerifyRequest {
  readonly op: 'verify';
  readonly path: string;
  readonly check: CheckMode;
  readonly countRows: boolean;
}

export interface TableInfo {
  readonly name: string;
  readonly rows: number | undefined;
}

export interface VerifyOutcome {
  readonly ok: boolean;
  /** Empty when the check passed. */
  readonly problems: readonly string[];
  readonly tables: readonly TableInfo[];
  readonly bytes: number;
  readonly pageSize?: number;
  readonly pageCount?: number;
  readonly ms: number;
}

export type WorkerReply<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string; readonly code?: string };
