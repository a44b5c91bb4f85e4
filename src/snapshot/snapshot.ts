import { chmod, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LifeboatError } from '../errors.js';
import { isMissing } from '../fs/errno.js';
import { isDiskFull } from '../fs/space.js';
import { runCopy, runSqliteWorker, SqliteWorkerError } from '../sqlite/client.js';
import type { CopyOutcome, VerifyOutcome } from '../sqlite/protocol.js';
import { type GrowingFile, GrowingImage } from './growing.js';

/**
 * The two SQLite steps of a backup: a consistent online copy of the live database into a file
 * Lifeboat owns, and the check that copy must pass before it counts. Both run on a worker
 * thread (src/sqlite/), so the application's event loop and connection are never blocked.
 */

export type SnapshotStage = 'copy' | 'check';

export interface CopyOptions {
  /**
   * `copy` with the bytes written so far (the copy's size, looked at every `progressIntervalMs`)
   * against the database's size. The first and the last report always come.
   */
  readonly onProgress?: (stage: 'copy', bytes: number, total: number | undefined) => void;
  readonly progressIntervalMs?: number;
}

/** Copies the live database at `source` into the new file `dest` (0600), consistent as of one moment. */
export function copySnapshot(source: string, dest: string, options: CopyOptions = {}): Promise<CopyOutcome> {
  return startSnapshotCopy(source, dest, options).done;
}

export interface SnapshotCopy {
  /**
   * The copy as it is written, when it is written front to back and final (the file-speed
   * copy); undefined when it is not (SQLite's backup API), or when the copy failed first.
   */
  readonly image: Promise<GrowingFile | undefined>;
  readonly done: Promise<CopyOutcome>;
}

/** Starts the copy of `copySnapshot`; its bytes may be read while it runs through `image`. */
export function startSnapshotCopy(source: string, dest: string, options: CopyOptions = {}): SnapshotCopy {
  let announced: (image: GrowingImage | undefined) => void = () => {};
  const image = new Promise<GrowingImage | undefined>((resolve) => {
    announced = resolve;
  });
  let growing: GrowingImage | undefined;
  const done = (async () => {
    let progress: { stop(): Promise<void> } | undefined;
    try {
      await assertDatabaseFile(source);
      progress = options.onProgress
        ? watchCopy(source, dest, options.onProgress, options.progressIntervalMs ?? 250)
        : undefined;
      const outcome = await runCopy({ op: 'copy', source, dest }, (p) => {
        if (p.progress === 'image' && !growing) {
          growing = new GrowingImage(p.bytes, dest);
          announced(growing);
        } else if (p.progress === 'written') {
          growing?.advance(p.bytes);
        }
      });
      await chmod(dest, 0o600);
      if (outcome.method === 'file') growing?.finish((await stat(dest)).mtimeMs);
      else growing?.fail();
      return outcome;
    } catch (err) {
      const failure = snapshotError(source, err, dest);
      growing?.fail(failure);
      throw failure;
    } finally {
      announced(undefined);
      await progress?.stop();
    }
  })();
  // The caller may be busy with `image` (staging a push) when the copy fails: not unhandled.
  done.catch(() => {});
  return { image, done };
}

/**
 * The check every snapshot must pass before it counts — at least what a restore checks
 * (src/restore/validate.ts), so no backup is kept that a restore would refuse:
 * `PRAGMA integrity_check` (SNAPSHOT_CORRUPT names what is wrong), then the tables in
 * `expectTables` (SNAPSHOT_TABLES_MISSING). The copy is Lifeboat's own file: checking it may
 * rewrite its header (journal mode).
 */
export async function checkSnapshot(
  path: string,
  source: string,
  expectTables: readonly string[],
): Promise<VerifyOutcome> {
  let outcome: VerifyOutcome;
  try {
    outcome = await runSqliteWorker({ op: 'verify', path, check: 'full', countRows: false });
  } catch (err) {
    throw snapshotError(source, err);
  }
  if (!outcome.ok) {
    throw new LifeboatError(
      'SNAPSHOT_CORRUPT',
      `the snapshot of ${source} failed PRAGMA integrity_check: ${outcome.problems.slice(0, 5).join('; ')}`,
      {
        hint:
          'the live database itself may be damaged: run `sqlite3 <db> ' +
          '"PRAGMA integrity_check"` and keep the existing backups',
      },
    );
  }
  const present = new Set(outcome.tables.map((t) => t.name));
  const missing = expectTables.filter((t) => !present.has(t));
  if (missing.length > 0) {
    throw new LifeboatError(
      'SNAPSHOT_TABLES_MISSING',
      `the snapshot of ${source} lacks the expected table(s) ${missing.join(', ')} ` +
        `(it has: ${[...present].join(', ') || 'no tables'}), so a restore would refuse it`,
      {
        hint:
          'is it the right database (--db, data_dir, filename_db)? The expected tables are ' +
          'HQL_BACKUP_RESTORE_EXPECT_TABLES; the existing backups were kept',
      },
    );
  }
  return outcome;
}

async function assertDatabaseFile(source: string): Promise<void> {
  try {
    const s = await stat(source);
    if (!s.isFile()) {
      throw new LifeboatError('DB_NOT_FILE', `the database path ${source} is not a file`, {
        hint: 'point --db / filename_db at the SQLite database file',
      });
    }
  } catch (err) {
    if (isMissing(err)) {
      throw new LifeboatError('DB_MISSING', `no database at ${source}`, {
        hint: 'check --db, or data_dir/filename_db (HQL_DATA_DIR, HQL_FILENAME_DB)',
      });
    }
    throw err;
  }
}

function snapshotError(source: string, err: unknown, dest?: string): LifeboatError {
  if (dest !== undefined && isDiskFull(err)) {
    return new LifeboatError(
      'NO_SPACE',
      `the file system of ${dirname(dest)} is full: copying ${source} into ${dest} failed ` +
        `(${(err as Error).message}); nothing was changed: the partial copy is removed, the existing backups are kept`,
      { hint: `free space on the file system of ${dirname(dest)}`, cause: err },
    );
  }
  if (err instanceof SqliteWorkerError && /^SQLITE_(CORRUPT|NOTADB)/.test(err.sqliteCode ?? '')) {
    return new LifeboatError('SNAPSHOT_CORRUPT', `the database ${source} is damaged: ${err.message}`, {
      hint:
        'keep the existing backups; check the database with `sqlite3 <db> ' +
        '"PRAGMA integrity_check"` and restore from a backup if needed',
      cause: err,
    });
  }
  if (err instanceof LifeboatError && err.code !== 'SQLITE_ERROR') return err;
  return new LifeboatError('SNAPSHOT_FAILED', `snapshot of ${source} failed: ${(err as Error).message}`, {
    cause: err,
  });
}

/** Reports the copy's progress from the size of its file (the worker is busy in one SQLite call). */
function watchCopy(
  source: string,
  dest: string,
  report: NonNullable<CopyOptions['onProgress']>,
  intervalMs: number,
): { stop(): Promise<void> } {
  let total: number | undefined;
  let done = false;
  const sizeOf = async (path: string) => (await stat(path).catch(() => undefined))?.size;
  const ready = Promise.all([sizeOf(source), sizeOf(`${source}-wal`)]).then(([db, wal]) => {
    total = db === undefined ? undefined : db + (wal ?? 0);
    if (!done) report('copy', 0, total);
  });
  const timer = setInterval(() => {
    void sizeOf(dest).then((bytes) => {
      if (!done && bytes !== undefined) report('copy', bytes, total);
    });
  }, intervalMs);
  timer.unref();
  return {
    /** Ends the reports with the final size; resolves once the last one was made. */
    async stop() {
      if (done) return;
      done = true;
      clearInterval(timer);
      await ready;
      const bytes = await sizeOf(dest);
      if (bytes !== undefined) report('copy', bytes, bytes);
    },
  };
}
