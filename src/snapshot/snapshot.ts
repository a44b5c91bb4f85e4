import { chmod, rm, stat } from 'node:fs/promises';
import { LifeboatError } from '../errors.js';
import { commitFile, tempPathFor } from '../fs/durable.js';
import { type CheckMode, runSqliteWorker, type SnapshotOutcome, SqliteWorkerError } from './worker-client.js';

export interface SnapshotResult extends SnapshotOutcome {
  /** Where the verified snapshot now lives. */
  readonly path: string;
  readonly durationMs: number;
}

/**
 * Takes a consistent online snapshot of the SQLite database at `source` into `target`:
 * copy into a temp file beside `target` (one read transaction, on a worker thread),
 * verify it, fsync, rename, fsync the folder. `target` appears only complete and verified;
 * on any failure nothing is left behind.
 */
export interface SnapshotOptions {
  readonly check?: CheckMode;
  /**
   * Called once the copy's bytes are final in the temp file `copyPath`, while the check
   * still runs: a caller may open the file and start sending it, as long as it commits
   * nothing before this snapshot resolves. The snapshot waits for the returned promise
   * before it renames the file. Not called when the copy itself fails.
   */
  readonly onCopied?: (copyPath: string) => Promise<void>;
  /**
   * Progress for people watching: `copy` with the bytes written so far (the temp file's size,
   * looked at every `progressIntervalMs`) against the database's size, then `check` once the
   * copy is done. The first and the last copy report always come.
   */
  readonly onProgress?: (stage: SnapshotStage, bytes: number, total: number | undefined) => void;
  readonly progressIntervalMs?: number;
}

export type SnapshotStage = 'copy' | 'check';

export async function snapshotDatabase(
  source: string,
  target: string,
  options: SnapshotOptions = {},
): Promise<SnapshotResult> {
  const started = performance.now();
  try {
    const s = await stat(source);
    if (!s.isFile())
      throw new LifeboatError('DB_NOT_FILE', `the database path ${source} is not a file`, {
        hint: 'point --db / filename_db at the SQLite database file',
      });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LifeboatError('DB_MISSING', `no database at ${source}`, {
        hint: 'check --db, or data_dir/filename_db (HQL_DATA_DIR, HQL_FILENAME_DB)',
      });
    }
    throw err;
  }
  const temp = tempPathFor(target);
  const progress = options.onProgress
    ? watchCopy(source, temp, options.onProgress, options.progressIntervalMs ?? 250)
    : undefined;
  try {
    let handled: Promise<void> | undefined;
    const { onCopied } = options;
    const copied = () => {
      progress?.copied();
      if (onCopied) handled = onCopied(temp);
    };
    const working = runSqliteWorker(
      { op: 'snapshot', source, dest: temp, check: options.check ?? 'quick' },
      { onCopied: copied },
    );
    const outcome = await working.finally(async () => {
      await progress?.stop();
      await handled?.catch(() => undefined);
    });
    await handled;
    if (outcome.problems.length > 0) {
      throw new LifeboatError(
        'SNAPSHOT_CORRUPT',
        `the snapshot of ${source} failed its check: ${outcome.problems.slice(0, 5).join('; ')}`,
        {
          hint: 'the live database itself may be damaged: run `sqlite3 <db> "PRAGMA integrity_check"` and keep the existing backups',
        },
      );
    }
    await chmod(temp, 0o600);
    await commitFile(temp, target);
    return { ...outcome, path: target, durationMs: performance.now() - started };
  } catch (err) {
    await rm(temp, { force: true });
    await rm(`${temp}-journal`, { force: true });
    if (err instanceof SqliteWorkerError && /^SQLITE_(CORRUPT|NOTADB)/.test(err.sqliteCode ?? '')) {
      throw new LifeboatError('SNAPSHOT_CORRUPT', `the database ${source} is damaged: ${err.message}`, {
        hint: 'keep the existing backups; check the database with `sqlite3 <db> "PRAGMA integrity_check"` and restore from a backup if needed',
        cause: err,
      });
    }
    if (err instanceof LifeboatError && err.code !== 'SQLITE_ERROR') throw err;
    throw new LifeboatError('SNAPSHOT_FAILED', `snapshot of ${source} failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Reports the copy's progress from the size of its temp file (the worker is busy in one SQLite call). */
function watchCopy(
  source: string,
  temp: string,
  report: NonNullable<SnapshotOptions['onProgress']>,
  intervalMs: number,
): { copied(): void; stop(): Promise<void> } {
  let total: number | undefined;
  let done = false;
  let last: Promise<void> = Promise.resolve();
  const sizeOf = async (path: string) => (await stat(path).catch(() => undefined))?.size;
  const ready = Promise.all([sizeOf(source), sizeOf(`${source}-wal`)]).then(([db, wal]) => {
    total = db === undefined ? undefined : db + (wal ?? 0);
    if (!done) report('copy', 0, total);
  });
  const timer = setInterval(() => {
    void sizeOf(temp).then((bytes) => {
      if (!done && bytes !== undefined) report('copy', bytes, total);
    });
  }, intervalMs);
  timer.unref();
  return {
    copied() {
      if (done) return;
      done = true;
      clearInterval(timer);
      last = ready.then(async () => {
        const bytes = (await sizeOf(temp)) ?? 0;
        report('copy', bytes, bytes);
        report('check', 0, undefined);
      });
    },
    /** Ends the reports; resolves once the last one was made. */
    async stop() {
      done = true;
      clearInterval(timer);
      await ready;
      await last.catch(() => undefined);
    },
  };
}
