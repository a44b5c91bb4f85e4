import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import Database from '../sqlite/driver.js';
import { link, open as openFile, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { sortBackupsNewestFirst } from '../backup/naming.js';
import type { KeySet } from '../crypto/keys.js';
import { createDecryptStream } from '../crypto/stream.js';
import { ConfigError, LifeboatError } from '../errors.js';
import { fsyncDir, fsyncFile, TEMP_PREFIX, tempPathFor } from '../fs/durable.js';
import { runSqliteWorker, type VerifyOutcome } from '../snapshot/worker-client.js';
import type { BackupStore } from '../storage/store.js';
import { formatSource, type RestoreSource } from './source.js';

export interface RestoreInputs {
  /** The remote store, for s3: sources. */
  readonly remote?: BackupStore | undefined;
  /** The key set, for s3: sources (any key of the set; chosen by the header's key id). */
  readonly keys?: KeySet | undefined;
  readonly onProgress?: ((bytes: number) => void) | undefined;
}

export interface Materialised {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
  /** The object or file it came from (s3:latest resolved). */
  readonly origin: string;
}

export interface RestoreOptions extends RestoreInputs {
  readonly source: RestoreSource;
  readonly dbFile: string;
  readonly skipValidation: boolean;
  readonly expectTables: readonly string[];
  /** Apply even when the marker says this source was applied already. */
  readonly force: boolean;
  readonly logger: Logger;
  readonly now: () => Date;
}

export interface RestoreReport {
  readonly applied: boolean;
  readonly source: string;
  readonly origin: string | undefined;
  readonly sha256: string | undefined;
  readonly bytes: number;
  readonly tables: VerifyOutcome['tables'];
  /** Where the previous database files went (never deleted). */
  readonly movedAside: readonly string[];
  readonly durationMs: number;
}

/** What the marker beside the database records about the last restore. */
export interface RestoreMarker {
  readonly source: string;
  readonly origin: string;
  readonly sha256: string;
  readonly appliedAt: string;
  readonly movedAside: readonly string[];
}

interface Intent {
  readonly temp: string;
  readonly aside: string;
  readonly marker: RestoreMarker;
}

export const markerPath = (dbFile: string) => `${dbFile}.lifeboat-restore.json`;
const intentPath = (dbFile: string) => `${dbFile}.lifeboat-restore-intent.json`;
const SIDECARS = ['-wal', '-shm', '-journal'] as const;

/**
 * Fault-injection hook for the crash tests only: with LIFEBOAT_TEST_CRASH_AT=<step> the
 * process kills itself at that step boundary, as a power cut would.
 */
function crashPoint(step: string): void {
  if (process.env.LIFEBOAT_TEST_CRASH_AT === step) process.kill(process.pid, 'SIGKILL');
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

async function writeJsonDurably(path: string, value: unknown): Promise<void> {
  const temp = tempPathFor(path);
  await writeFile(temp, JSON.stringify(value, null, 2), { mode: 0o600, flag: 'wx' });
  await fsyncFile(temp);
  await rename(temp, path);
  await fsyncDir(dirname(path));
}

export async function readMarker(dbFile: string): Promise<RestoreMarker | undefined> {
  try {
    return JSON.parse(await readFile(markerPath(dbFile), 'utf8')) as RestoreMarker;
  } catch {
    return undefined;
  }
}

/**
 * Downloads/decrypts or copies the backup into `target` (a temp name Lifeboat owns),
 * hashing on the way. On failure nothing is left behind.
 */
export async function materialise(source: RestoreSource, target: string, inputs: RestoreInputs): Promise<Materialised> {
  let body: Readable;
  let origin: string;
  if (source.kind === 'file') {
    const info = await stat(source.path).catch(() => undefined);
    if (!info) throw new LifeboatError('NOT_FOUND', `the backup file ${source.path} does not exist`, { hint: 'check the path after file: (it must be absolute)' });
    if (!info.isFile()) throw new LifeboatError('NOT_A_FILE', `${source.path} is not a regular file`, { hint: 'file: must name a SQLite backup file, e.g. file:/backups/backup_node_1_1732415400.sqlite' });
    const fh = await openFile(source.path, 'r');
    const magic = Buffer.alloc(16);
    await fh.read(magic, 0, 16, 0).finally(() => fh.close());
    if (magic.toString('latin1') !== 'SQLite format 3\u0000') {
      throw new LifeboatError('NOT_SQLITE', `${source.path} is not an SQLite database (bad file header)`, {
        hint: 'file: takes a plain SQLite backup; an encrypted S3 backup must be decrypted first (`lifeboat decrypt`) or restored with s3:',
      });
    }
    body = createReadStream(source.path);
    origin = source.path;
  } else {
    if (!inputs.remote) throw new ConfigError([`${formatSource(source)}: no S3 store is configured; set cluster.s3_url (HQL_S3_URL) and the other s3_* keys`]);
    if (!inputs.keys) throw new ConfigError([`${formatSource(source)}: S3 backups are encrypted, but no keys are configured; set ENC_KEYS and ENC_KEY_ACTIVE`]);
    let object: string;
    if (source.kind === 's3-latest') {
      const newest = sortBackupsNewestFirst(await inputs.remote.list())[0];
      if (!newest) throw new LifeboatError('NOT_FOUND', `there are no backups in ${inputs.remote.description}`, { hint: 'check the bucket and s3_prefix; `lifeboat list --remote` shows what exists' });
      object = newest.name;
    } else {
      object = source.object;
    }
    body = (await inputs.remote.get(object)).pipe(createDecryptStream(inputs.keys));
    origin = object;
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      inputs.onProgress?.(bytes);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(body, tap, createWriteStream(target, { flags: 'wx', mode: 0o600 }));
    await fsyncFile(target);
  } catch (err) {
    await rm(target, { force: true });
    throw err;
  }
  return { path: target, sha256: hash.digest('hex'), bytes, origin };
}

/** Header, integrity_check (unless skipped) and the expected tables, on a copy Lifeboat owns. */
export async function validateBackup(path: string, options: { skipValidation: boolean; expectTables: readonly string[]; countRows?: boolean; logger?: Logger }): Promise<VerifyOutcome> {
  if (options.skipValidation) options.logger?.warn('HQL_BACKUP_SKIP_VALIDATION=true: restoring without the integrity and table checks (the SQLite header is still checked)');
  const outcome = await runSqliteWorker({ op: 'verify', path, check: options.skipValidation ? 'none' : 'full', countRows: options.countRows ?? false });
  if (!outcome.ok) {
    throw new LifeboatError('BACKUP_INVALID', `the backup failed validation: ${outcome.problems.slice(0, 5).join('; ')}`, {
      hint: 'nothing was changed; pick another backup (`lifeboat list`) or test one with `lifeboat verify`',
    });
  }
  if (!options.skipValidation) {
    const present = new Set(outcome.tables.map((t) => t.name));
    const missing = options.expectTables.filter((t) => !present.has(t));
    if (missing.length > 0) {
      throw new LifeboatError('BACKUP_INVALID', `the backup lacks the expected table(s) ${missing.join(', ')} (it has: ${[...present].join(', ') || 'no tables'})`, {
        hint: 'is it a backup of this application? Check HQL_BACKUP_RESTORE_EXPECT_TABLES, or skip with HQL_BACKUP_SKIP_VALIDATION=true',
      });
    }
  }
  return outcome;
}

/**
 * Finishes a swap that a crash interrupted: once the intent file is durable the restore
 * only goes forward, so after any crash the database is the complete old one (no intent)
 * or the complete new one.
 */
export async function recoverInterruptedRestore(dbFile: string, logger: Logger): Promise<boolean> {
  let intent: Intent | undefined;
  try {
    intent = JSON.parse(await readFile(intentPath(dbFile), 'utf8')) as Intent;
  } catch (err) {
    // No intent, or a torn one (the crash came before it was renamed into place): nothing was moved.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') await rm(intentPath(dbFile), { force: true });
  }
  if (intent) {
    logger.warn({ db: dbFile, backup: intent.marker.origin }, 'completing a restore that was interrupted');
    await swapForward(dbFile, intent);
  }
  // Temp copies of restores that died before their intent was written are of no use.
  const prefix = `${TEMP_PREFIX}${basename(dbFile)}.`;
  for (const entry of await readdir(dirname(dbFile)).catch(() => [] as string[])) {
    if (entry.startsWith(prefix)) await rm(join(dirname(dbFile), entry), { force: true });
  }
  return intent !== undefined;
}

async function swapForward(dbFile: string, intent: Intent): Promise<void> {
  if (await exists(intent.temp)) {
    // Keep the old database under the aside name. A settled database is one file: a hard
    // link keeps it without touching the live name, so the rename below switches old → new
    // atomically. (Sidecar files exist only when settling failed; they move with it.)
    for (const suffix of SIDECARS) if (await exists(dbFile + suffix)) await rename(dbFile + suffix, intent.aside + suffix);
    if ((await exists(dbFile)) && !(await exists(intent.aside))) await link(dbFile, intent.aside);
    await fsyncDir(dirname(dbFile));
    crashPoint('after-keep-old');
    await rename(intent.temp, dbFile);
    await fsyncDir(dirname(dbFile));
    crashPoint('after-rename');
  } else if (!(await exists(dbFile))) {
    throw new LifeboatError('RESTORE_BROKEN', `an interrupted restore left neither the new database ${intent.temp} nor ${dbFile}`, {
      hint: `the previous database was kept at ${intent.aside}; copy it back to ${dbFile}`,
    });
  }
  await writeJsonDurably(markerPath(dbFile), intent.marker);
  crashPoint('after-marker');
  await rm(intentPath(dbFile), { force: true });
  await fsyncDir(dirname(dbFile));
}

/**
 * Folds the old database's WAL (or hot journal) into its main file, so that it is complete
 * as one file and no old WAL can ever be applied to the new database. Returns false when
 * that is impossible (e.g. the old database is damaged); the swap then moves the files as a set.
 */
async function settleOldDatabase(dbFile: string, logger: Logger): Promise<boolean> {
  if (!(await exists(dbFile))) return true;
  try {
    const db = new Database(dbFile, { fileMustExist: true, timeout: 5000 });
    try {
      if (String(db.pragma('journal_mode', { simple: true })) === 'wal') db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.close();
    }
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'the current database could not be opened to settle it; it is moved aside as it is, with its -wal/-shm');
    return false;
  }
  for (const suffix of SIDECARS) if (suffix !== '-shm' && (await exists(dbFile + suffix))) return false;
  return true;
}

/**
 * Restores `source` into `dbFile`: materialise into a temp file beside it, validate, then a
 * crash-safe swap that moves the old database (with -wal/-shm) aside instead of deleting it.
 * The caller must hold the database lock and no connection may be open on the database.
 */
export async function restoreDatabase(options: RestoreOptions): Promise<RestoreReport> {
  const started = performance.now();
  const { dbFile, logger } = options;
  const sourceText = formatSource(options.source);
  await recoverInterruptedRestore(dbFile, logger);

  const marker = await readMarker(dbFile);
  if (marker && marker.source === sourceText && !options.force) {
    logger.warn(
      { source: sourceText, appliedAt: marker.appliedAt },
      `the backup ${sourceText} was already restored at ${marker.appliedAt}; NOT applying it again. Remove HQL_BACKUP_RESTORE now, or set HQL_BACKUP_RESTORE_FORCE=true to apply it again (discarding newer data)`,
    );
    return { applied: false, source: sourceText, origin: marker.origin, sha256: marker.sha256, bytes: 0, tables: [], movedAside: [], durationMs: performance.now() - started };
  }

  const temp = tempPathFor(dbFile);
  logger.info({ source: sourceText, db: dbFile }, 'restore: fetching the backup');
  const got = await materialise(options.source, temp, options);
  try {
    crashPoint('after-materialise');
    const check = await validateBackup(temp, { skipValidation: options.skipValidation, expectTables: options.expectTables, logger });
    await rm(`${temp}-journal`, { force: true });
    await fsyncFile(temp);
    logger.info({ origin: got.origin, bytes: got.bytes, tables: check.tables.length }, 'restore: backup validated');

    await settleOldDatabase(dbFile, logger);
    const stamp = options.now().toISOString().replace(/[:.]/g, '-');
    const aside = join(dirname(dbFile), `${basename(dbFile)}.before-restore-${stamp}`);
    const movedAside: string[] = [];
    for (const suffix of ['', ...SIDECARS]) if (await exists(dbFile + suffix)) movedAside.push(aside + suffix);
    const newMarker: RestoreMarker = { source: sourceText, origin: got.origin, sha256: got.sha256, appliedAt: options.now().toISOString(), movedAside };
    await writeJsonDurably(intentPath(dbFile), { temp, aside, marker: newMarker } satisfies Intent);
    crashPoint('after-intent');
    await swapForward(dbFile, { temp, aside, marker: newMarker });
    logger.info({ db: dbFile, movedAside }, `restore: ${got.origin} is now the database${movedAside.length ? `; the previous one was kept at ${aside}` : ''}`);
    return { applied: true, source: sourceText, origin: got.origin, sha256: got.sha256, bytes: got.bytes, tables: check.tables, movedAside, durationMs: performance.now() - started };
  } catch (err) {
    // Before the intent exists nothing was touched: drop the temp copy.
    if (!(await exists(intentPath(dbFile)))) {
      await rm(temp, { force: true });
      await rm(`${temp}-journal`, { force: true });
    }
    throw err;
  }
}
