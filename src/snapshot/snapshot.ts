import { chmod, rm, stat } from 'node:fs/promises';
import { LifeboatError } from '../errors.js';
import { commitFile, tempPathFor } from '../fs/durable.js';
import { runSqliteWorker, SqliteWorkerError, type CheckMode, type SnapshotOutcome } from './worker-client.js';

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
export async function snapshotDatabase(source: string, target: string, options: { check?: CheckMode } = {}): Promise<SnapshotResult> {
  const started = performance.now();
  try {
    const s = await stat(source);
    if (!s.isFile()) throw new LifeboatError('DB_NOT_FILE', `the database path ${source} is not a file`, { hint: 'point --db / filename_db at the SQLite database file' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new LifeboatError('DB_MISSING', `no database at ${source}`, { hint: 'check --db, or data_dir/filename_db (HQL_DATA_DIR, HQL_FILENAME_DB)' });
    }
    throw err;
  }
  const temp = tempPathFor(target);
  try {
    const outcome = await runSqliteWorker({ op: 'snapshot', source, dest: temp, check: options.check ?? 'quick' });
    if (outcome.problems.length > 0) {
      throw new LifeboatError('SNAPSHOT_CORRUPT', `the snapshot of ${source} failed its check: ${outcome.problems.slice(0, 5).join('; ')}`, {
        hint: 'the live database itself may be damaged: run `sqlite3 <db> "PRAGMA integrity_check"` and keep the existing backups',
      });
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
    throw new LifeboatError('SNAPSHOT_FAILED', `snapshot of ${source} failed: ${(err as Error).message}`, { cause: err });
  }
}
