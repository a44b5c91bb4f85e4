import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import {
  chmod,
  chown,
  link,
  mkdir,
  open as openFile,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { sortBackupsNewestFirst } from '../backup/naming.js';
import type { Config } from '../config/types.js';
import type { KeySet } from '../crypto/keys.js';
import { createDecryptStream } from '../crypto/stream.js';
import { ConfigError, LifeboatError } from '../errors.js';
import { fsyncDir, fsyncFile, TEMP_PREFIX, tempPathFor } from '../fs/durable.js';
import { runSqliteWorker, type VerifyOutcome } from '../snapshot/worker-client.js';
import Database from '../sqlite/driver.js';
import type { BackupStore } from '../storage/store.js';
import { formatSource, type RestoreSource } from './source.js';

/*
 * Restore: materialise → validate → crash-safe swap → marker.
 *
 * Files, all in the database's folder (so every rename is atomic and one folder fsync makes it durable):
 *   {db}                                   the live database
 *   .lifeboat-tmp-{db}.{random}            the backup being materialised and validated
 *   {db}.lifeboat-restore-intent.json      written (durably) once the backup is validated; says
 *                                          "this temp replaces the db, the old one goes to {aside}"
 *   {db}.before-restore-{UTC time}[-wal…]  the previous database, kept (never deleted by Lifeboat)
 *   {db}.lifeboat-restore.json             the marker: the last applied source, its sha256, when,
 *                                          and where the previous database went
 *
 * Rules: before the intent is durable nothing of the live database has been touched (a crash
 * leaves the old database, and the next start removes the stale temp). Once it is durable the
 * restore only goes forward: every start (and every restore) first completes an intent it finds,
 * idempotently. The live name always holds a complete database: the old one is kept by a hard
 * link before the temp is renamed over it, so it is the old one up to the rename and the new
 * one from then on.
 */

export interface RestoreInputs {
  /** The remote store, for s3: sources. */
  readonly remote?: BackupStore | undefined;
  /** The key set, for s3: sources (any key of the set; chosen by the header's key id). */
  readonly keys?: KeySet | undefined;
  /** Bytes written so far, and the expected total when known (it is the encrypted size for S3). */
  readonly onProgress?: ((bytes: number, total: number | undefined) => void) | undefined;
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
  /** This call put the backup in place. */
  readonly applied: boolean;
  /** Not applied now because an interrupted restore of this same source was just completed (it is in place). */
  readonly completedInterrupted: boolean;
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
export const intentPath = (dbFile: string) => `${dbFile}.lifeboat-restore-intent.json`;
const SIDECARS = ['-wal', '-shm', '-journal'] as const;
const SQLITE_MAGIC = 'SQLite format 3\u0000';

/**
 * FAULT-INJECTION HOOK, for the crash tests only: with LIFEBOAT_TEST_CRASH_AT=<step> the
 * process kills itself (SIGKILL, no cleanup) at that step boundary, as a power cut would.
 * Steps: during-materialise, after-materialise, after-validate, after-settle, after-intent,
 * after-keep-old, after-rename, after-marker.
 */
function crashPoint(step: string): void {
  if (process.env.LIFEBOAT_TEST_CRASH_AT === step) process.kill(process.pid, 'SIGKILL');
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/** Writes JSON all-or-nothing; with `ownerOf`, owned like that file (so the application can read it). */
async function writeJsonDurably(path: string, value: unknown, ownerOf?: string): Promise<void> {
  const temp = tempPathFor(path);
  await writeFile(temp, JSON.stringify(value, null, 2), { mode: 0o600, flag: 'wx' });
  if (ownerOf && process.getuid?.() === 0) {
    const owner = await stat(ownerOf);
    await chown(temp, owner.uid, owner.gid);
  }
  await fsyncFile(temp);
  await rename(temp, path);
  await fsyncDir(dirname(path));
}

/** The marker, or undefined when there is none. An unreadable marker is an error: treating it as absent could re-apply a backup over newer data. */
export async function readMarker(dbFile: string): Promise<RestoreMarker | undefined> {
  let text: string;
  try {
    text = await readFile(markerPath(dbFile), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LifeboatError(
      'MARKER_UNREADABLE',
      `the restore marker ${markerPath(dbFile)} cannot be read: ${(err as Error).message}`,
      {
        hint: 'check its owner and permissions (it belongs to the user that runs the application)',
        cause: err,
      },
    );
  }
  try {
    const marker = JSON.parse(text) as RestoreMarker;
    if (typeof marker.source === 'string') return marker;
  } catch {
    // reported below
  }
  throw new LifeboatError('MARKER_UNREADABLE', `the restore marker ${markerPath(dbFile)} is not valid JSON`, {
    hint: `it records which backup was restored last (see docs/disaster-recovery.md); delete it only if you are sure HQL_BACKUP_RESTORE should be applied`,
  });
}

/**
 * The restored file gets the permissions of the database it replaces, and, when Lifeboat runs
 * as root (an operator's `lifeboat restore`), its owner too: the application must be able to
 * open it. Without an old database, the owner of the folder.
 */
async function matchOwnership(path: string, dbFile: string): Promise<void> {
  const old = (await stat(dbFile).catch(() => undefined)) ?? (await stat(dirname(dbFile)));
  if (old.isFile()) await chmod(path, old.mode & 0o666);
  if (process.getuid?.() === 0 && (old.uid !== 0 || old.gid !== 0)) await chown(path, old.uid, old.gid);
}

async function readHead(path: string, length: number): Promise<Buffer> {
  const fh = await openFile(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** A file: source must be a complete, plain SQLite file: exists, regular, SQLite header, no pending WAL/journal. */
async function openFileSource(path: string): Promise<{ body: Readable; size: number }> {
  const info = await stat(path).catch(() => undefined);
  if (!info)
    throw new LifeboatError('NOT_FOUND', `the backup file ${path} does not exist`, {
      hint: 'check the path after file: (it must be absolute); `lifeboat list` shows the local backups',
    });
  if (!info.isFile()) {
    throw new LifeboatError('NOT_A_FILE', `${path} is not a regular file`, {
      hint: 'file: must name a SQLite backup file, e.g. file:/var/lib/app/state_machine/backups/backup_node_1_1732415400.sqlite',
    });
  }
  if ((await readHead(path, 16)).toString('latin1') !== SQLITE_MAGIC) {
    throw new LifeboatError('NOT_SQLITE', `${path} is not an SQLite database (bad file header)`, {
      hint: 'file: takes a plain SQLite backup; an encrypted S3 backup must be decrypted first (`lifeboat decrypt`) or restored with s3:',
    });
  }
  for (const suffix of ['-wal', '-journal']) {
    const side = await stat(path + suffix).catch(() => undefined);
    if (side && side.size > 0) {
      throw new LifeboatError(
        'SOURCE_INCOMPLETE',
        `${path} has a non-empty ${path}${suffix} beside it: part of its content is in that file, so the file alone is not a complete backup`,
        {
          hint: `if no program has it open, fold it in with \`sqlite3 ${path} 'PRAGMA wal_checkpoint(TRUNCATE)'\` and retry, or take a proper backup of it with \`lifeboat backup --db ${path}\``,
        },
      );
    }
  }
  return { body: createReadStream(path), size: info.size };
}

/**
 * Downloads/decrypts or copies the backup into `target` (a new name Lifeboat owns),
 * hashing on the way. On failure nothing is left behind.
 */
export async function materialise(source: RestoreSource, target: string, inputs: RestoreInputs): Promise<Materialised> {
  let body: Readable;
  let decrypt: Transform | undefined;
  let origin: string;
  let total: number | undefined;
  if (source.kind === 'file') {
    ({ body, size: total } = await openFileSource(source.path));
    origin = source.path;
  } else {
    if (!inputs.remote)
      throw new ConfigError([
        `${formatSource(source)}: no S3 store is configured; set cluster.s3_url (HQL_S3_URL) and the other s3_* keys`,
      ]);
    if (!inputs.keys)
      throw new ConfigError([
        `${formatSource(source)}: S3 backups are encrypted, but no keys are configured; set ENC_KEYS and ENC_KEY_ACTIVE`,
      ]);
    if (source.kind === 's3-latest') {
      const newest = sortBackupsNewestFirst(await inputs.remote.list())[0];
      if (!newest)
        throw new LifeboatError(
          'NOT_FOUND',
          `there are no backups (backup_node_*.sqlite) in ${inputs.remote.description}`,
          { hint: 'check HQL_S3_BUCKET and the prefix; `lifeboat list --remote` shows what exists' },
        );
      origin = newest.name;
      total = newest.size;
    } else {
      origin = source.object;
    }
    decrypt = createDecryptStream(inputs.keys);
    body = await inputs.remote.get(origin);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      if (bytes > 0) crashPoint('during-materialise');
      hash.update(chunk);
      bytes += chunk.length;
      inputs.onProgress?.(bytes, total);
      cb(null, chunk);
    },
  });
  try {
    // One pipeline from the source on: any failure (network, key, authentication, disk) destroys every stage.
    const out = createWriteStream(target, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 22 });
    await (decrypt ? pipeline(body, decrypt, tap, out) : pipeline(body, tap, out));
    await fsyncFile(target);
  } catch (err) {
    await rm(target, { force: true });
    throw err;
  }
  return { path: target, sha256: hash.digest('hex'), bytes, origin };
}

/** Header, integrity_check (unless skipped) and the expected tables, on a copy Lifeboat owns. */
export async function validateBackup(
  path: string,
  options: { skipValidation: boolean; expectTables: readonly string[]; countRows?: boolean; logger?: Logger },
): Promise<VerifyOutcome> {
  if (options.skipValidation)
    options.logger?.warn(
      'HQL_BACKUP_SKIP_VALIDATION=true: restoring without the integrity and table checks (the SQLite header is still checked)',
    );
  const outcome = await runSqliteWorker({
    op: 'verify',
    path,
    check: options.skipValidation ? 'none' : 'full',
    countRows: options.countRows ?? false,
  });
  if (!outcome.ok) {
    throw new LifeboatError(
      'BACKUP_INVALID',
      `the backup failed validation: ${outcome.problems.slice(0, 5).join('; ')}`,
      {
        hint: 'nothing was changed; pick another backup (`lifeboat list`) or test one with `lifeboat verify`',
      },
    );
  }
  if (!options.skipValidation) {
    const present = new Set(outcome.tables.map((t) => t.name));
    const missing = options.expectTables.filter((t) => !present.has(t));
    if (missing.length > 0) {
      throw new LifeboatError(
        'BACKUP_INVALID',
        `the backup lacks the expected table(s) ${missing.join(', ')} (it has: ${[...present].join(', ') || 'no tables'})`,
        {
          hint: 'is it a backup of this application? Check HQL_BACKUP_RESTORE_EXPECT_TABLES, or skip with HQL_BACKUP_SKIP_VALIDATION=true',
        },
      );
    }
  }
  return outcome;
}

function parseIntent(text: string, dbFile: string): Intent | undefined {
  try {
    const intent = JSON.parse(text) as Intent;
    const dir = dirname(dbFile);
    const inDir = (p: unknown) => typeof p === 'string' && dirname(p) === dir;
    if (
      inDir(intent.temp) &&
      basename(intent.temp).startsWith(TEMP_PREFIX) &&
      inDir(intent.aside) &&
      typeof intent.marker?.source === 'string'
    )
      return intent;
  } catch {
    // reported below
  }
  return undefined;
}

/**
 * Finishes a swap that a crash interrupted: once the intent file is durable the restore
 * only goes forward, so after any crash the database is the complete old one (no intent)
 * or the complete new one. Also removes temp copies of restores that died earlier.
 * Runs at every start before the database is opened, and before every restore.
 */
export async function recoverInterruptedRestore(dbFile: string, logger: Logger): Promise<boolean> {
  let text: string | undefined;
  try {
    text = await readFile(intentPath(dbFile), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let intent: Intent | undefined;
  if (text !== undefined) {
    // The intent is written to a temp name and renamed, so a torn one cannot come from a crash.
    intent = parseIntent(text, dbFile);
    if (!intent) {
      throw new LifeboatError(
        'RESTORE_BROKEN',
        `the restore intent file ${intentPath(dbFile)} is unreadable, so an interrupted restore cannot be completed`,
        {
          hint: `${dbFile} holds a complete database (the previous one or the restored one); check it with \`lifeboat verify file:${dbFile}\`, then delete ${intentPath(dbFile)} and start again`,
        },
      );
    }
    logger.warn(
      { db: dbFile, backup: intent.marker.origin },
      `completing the restore of ${intent.marker.origin} that was interrupted`,
    );
    if (await exists(intent.temp)) await settleOldDatabase(dbFile, logger);
    await swapForward(dbFile, intent);
  }
  const prefix = `${TEMP_PREFIX}${basename(dbFile)}.`;
  for (const entry of await readdir(dirname(dbFile)).catch(() => [] as string[])) {
    if (entry.startsWith(prefix)) await rm(join(dirname(dbFile), entry), { force: true });
  }
  return intent !== undefined;
}

/** Keeps the old main file under `aside` without removing the live name; rename where the file system has no hard links. */
async function keepOld(dbFile: string, aside: string): Promise<void> {
  try {
    await link(dbFile, aside);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK' && code !== 'ENOSYS')
      throw err;
    // No hard links here: the live name is briefly absent; the intent makes a crash in that gap complete forward.
    await rename(dbFile, aside);
  }
}

/** The swap, idempotent: every step checks whether it was done already. */
async function swapForward(dbFile: string, intent: Intent): Promise<void> {
  if (await exists(intent.temp)) {
    // Sidecars exist only when settling was impossible (e.g. a damaged database): they move
    // with it as a set, so an old WAL can never be applied to the new database.
    for (const suffix of SIDECARS) {
      if (!(await exists(dbFile + suffix))) continue;
      if (await exists(intent.aside + suffix))
        throw tamperedDuringRestore(dbFile, intent, `${dbFile}${suffix} and ${intent.aside}${suffix} both exist`);
      await rename(dbFile + suffix, intent.aside + suffix);
    }
    const live = await stat(dbFile).catch(() => undefined);
    const kept = await stat(intent.aside).catch(() => undefined);
    if (live && !kept) await keepOld(dbFile, intent.aside);
    // Both present: the hard link made them one file. Two different files mean something
    // created a database here after the crash; replacing it could lose data.
    if (live && kept && (live.ino !== kept.ino || live.dev !== kept.dev))
      throw tamperedDuringRestore(dbFile, intent, `${dbFile} is not the database kept at ${intent.aside}`);
    await fsyncDir(dirname(dbFile));
    crashPoint('after-keep-old');
    await rename(intent.temp, dbFile);
    await fsyncDir(dirname(dbFile));
    crashPoint('after-rename');
  } else if (!(await exists(dbFile))) {
    throw new LifeboatError(
      'RESTORE_BROKEN',
      `an interrupted restore left neither the new database ${intent.temp} nor ${dbFile}`,
      {
        hint: `the previous database was kept at ${intent.aside}; copy it back to ${dbFile}, then delete ${intentPath(dbFile)}`,
      },
    );
  }
  await writeJsonDurably(markerPath(dbFile), intent.marker, dbFile);
  crashPoint('after-marker');
  await rm(intentPath(dbFile), { force: true });
  await fsyncDir(dirname(dbFile));
}

function tamperedDuringRestore(dbFile: string, intent: Intent, what: string): LifeboatError {
  return new LifeboatError(
    'RESTORE_BROKEN',
    `cannot complete the interrupted restore of ${intent.marker.origin}: ${what}; something opened the database after the crash`,
    {
      hint: `nothing more was changed. Compare ${dbFile} and ${intent.aside} (with their -wal), keep the right one at ${dbFile}, then delete ${intentPath(dbFile)} and ${intent.temp}`,
    },
  );
}

const isBusy = (err: unknown) => /^SQLITE_(BUSY|LOCKED)/.test(String((err as { code?: unknown }).code ?? ''));

function inUse(dbFile: string, why: string): LifeboatError {
  return new LifeboatError(
    'DB_IN_USE',
    `${dbFile} is open in another process (${why}); a restore must not replace a database in use`,
    {
      hint: 'stop the application (and `lifeboat serve`) that uses it, then run the restore again; nothing was changed',
    },
  );
}

/**
 * Folds the old database's WAL (or hot journal) into its main file, so it is complete as
 * one file and no old WAL can ever be applied to the new database; the content does not
 * change. Refuses (DB_IN_USE) when another process has the database open: the last
 * connection to close a WAL database removes the WAL, so a WAL that outlives ours means
 * someone else is connected. A database that cannot be opened (damaged) is left as it is:
 * the swap moves it aside with its -wal/-shm as a set.
 */
async function settleOldDatabase(dbFile: string, logger: Logger): Promise<void> {
  if (!(await exists(dbFile))) return;
  let wal = false;
  try {
    const db = new Database(dbFile, { fileMustExist: true, timeout: 5000 });
    try {
      wal = String(db.pragma('journal_mode', { simple: true })) === 'wal';
      if (wal) {
        const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
        if (result?.busy) throw inUse(dbFile, 'a reader or writer kept the checkpoint from completing');
      }
    } finally {
      db.close();
    }
  } catch (err) {
    if (err instanceof LifeboatError) throw err;
    if (isBusy(err)) throw inUse(dbFile, 'it is locked');
    logger.warn(
      { db: dbFile, err: (err as Error).message },
      'the current database could not be opened to settle it; it is moved aside as it is, with its -wal/-shm',
    );
    return;
  }
  if (wal && (await exists(`${dbFile}-wal`)))
    throw inUse(dbFile, 'its WAL stays open after Lifeboat closed its own connection');
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
  const recovered = await recoverInterruptedRestore(dbFile, logger);

  // (1) The marker: the same source is applied once, unless forced (Hiqlite re-applies it at every start).
  const marker = await readMarker(dbFile);
  // This very restore was interrupted and has just been completed: it is done (even when forced).
  if (recovered && marker?.source === sourceText) {
    return {
      applied: false,
      completedInterrupted: true,
      source: sourceText,
      origin: marker.origin,
      sha256: marker.sha256,
      bytes: 0,
      tables: [],
      movedAside: marker.movedAside,
      durationMs: performance.now() - started,
    };
  }
  // The same request, or s3:<object> naming the object an earlier s3:latest resolved to.
  const sameBackup =
    marker !== undefined &&
    (marker.source === sourceText ||
      (options.source.kind === 's3' && marker.source.startsWith('s3:') && marker.origin === options.source.object));
  if (marker && sameBackup && !options.force) {
    if (await exists(dbFile)) {
      logger.warn(
        { source: sourceText, appliedAt: marker.appliedAt, origin: marker.origin },
        `the backup ${sourceText} was already restored at ${marker.appliedAt}${marker.source === sourceText ? '' : ` (as ${marker.source})`}; NOT applying it again. Remove HQL_BACKUP_RESTORE now, or set HQL_BACKUP_RESTORE_FORCE=true to apply it again (discarding newer data)`,
      );
      return {
        applied: false,
        completedInterrupted: false,
        source: sourceText,
        origin: marker.origin,
        sha256: marker.sha256,
        bytes: 0,
        tables: [],
        movedAside: [],
        durationMs: performance.now() - started,
      };
    }
    logger.warn(
      { source: sourceText, db: dbFile },
      `${sourceText} was restored before, but ${dbFile} is gone: restoring it again`,
    );
  }

  // (2) Materialise into a temp file beside the database. Its folder may be gone with a lost
  // disk: created then (an existing one keeps its owner's permissions).
  await mkdir(dirname(dbFile), { recursive: true, mode: 0o700 });
  const temp = tempPathFor(dbFile);
  logger.info({ source: sourceText, db: dbFile }, 'restore: fetching the backup');
  const got = await materialise(options.source, temp, options);
  try {
    crashPoint('after-materialise');
    // (3) Validate the temp copy (the check converts it to rollback-journal mode: it is ours).
    const check = await validateBackup(temp, {
      skipValidation: options.skipValidation,
      expectTables: options.expectTables,
      logger,
    });
    await rm(`${temp}-journal`, { force: true });
    await fsyncFile(temp);
    logger.info(
      { origin: got.origin, bytes: got.bytes, sha256: got.sha256, tables: check.tables.length },
      'restore: backup validated',
    );
    crashPoint('after-validate');

    // (4) The swap: settle the old database, make the intent durable, then go forward.
    await settleOldDatabase(dbFile, logger);
    await matchOwnership(temp, dbFile);
    crashPoint('after-settle');
    const stamp = options.now().toISOString().replace(/[:.]/g, '-');
    const aside = join(dirname(dbFile), `${basename(dbFile)}.before-restore-${stamp}`);
    const movedAside: string[] = [];
    for (const suffix of ['', ...SIDECARS]) if (await exists(dbFile + suffix)) movedAside.push(aside + suffix);
    const newMarker: RestoreMarker = {
      source: sourceText,
      origin: got.origin,
      sha256: got.sha256,
      appliedAt: options.now().toISOString(),
      movedAside,
    };
    await writeJsonDurably(intentPath(dbFile), { temp, aside, marker: newMarker } satisfies Intent);
    crashPoint('after-intent');
    await swapForward(dbFile, { temp, aside, marker: newMarker });
    logger.info(
      { db: dbFile, movedAside },
      `restore: ${got.origin} is now the database${movedAside.length ? `; the previous one was kept at ${aside}` : ''}`,
    );
    // (5) The report.
    return {
      applied: true,
      completedInterrupted: false,
      source: sourceText,
      origin: got.origin,
      sha256: got.sha256,
      bytes: got.bytes,
      tables: check.tables,
      movedAside,
      durationMs: performance.now() - started,
    };
  } catch (err) {
    // Before the intent exists nothing was touched: drop the temp copy.
    if (!(await exists(intentPath(dbFile)))) {
      await rm(temp, { force: true });
      await rm(`${temp}-journal`, { force: true });
    }
    throw err;
  }
}

export interface StartupRestoreContext {
  readonly dbFile: string;
  /** The remote store Lifeboat.open already opened (undefined without S3). */
  readonly remote: BackupStore | undefined;
  readonly logger: Logger;
  /** Sidecar mode: the database belongs to another process, so HQL_BACKUP_RESTORE is refused. */
  readonly sidecar?: boolean;
  readonly now?: () => Date;
}

/**
 * Start-up (Lifeboat.open, `lifeboat serve`): first completes a restore a crash interrupted,
 * then applies HQL_BACKUP_RESTORE if it is set — once (the marker), validated before anything
 * is replaced. Must run with the database lock held and before the database is opened.
 * Unlike Hiqlite, an invalid HQL_BACKUP_RESTORE stops start-up instead of being logged and ignored.
 */
export async function restoreAtStartup(config: Config, ctx: StartupRestoreContext): Promise<RestoreReport | undefined> {
  const { dbFile, logger } = ctx;
  const source = config.restore.source;
  if (source && ctx.sidecar) {
    throw new LifeboatError(
      'RESTORE_SIDECAR',
      'HQL_BACKUP_RESTORE is set, but a sidecar does not own the database it backs up',
      {
        hint: 'remove HQL_BACKUP_RESTORE; stop the application, run `lifeboat restore <source> --db <path>`, then start it again',
      },
    );
  }
  await recoverInterruptedRestore(dbFile, logger);
  if (!source) return undefined;
  if (config.restore.force) {
    logger.warn(
      'HQL_BACKUP_RESTORE_FORCE=true: the backup is applied even if it was applied before, at EVERY start while this stays set; remove HQL_BACKUP_RESTORE_FORCE after this start',
    );
  }
  const report = await restoreDatabase({
    source,
    dbFile,
    remote: ctx.remote,
    keys: config.encryption,
    skipValidation: config.restore.skipValidation,
    expectTables: config.restore.expectTables,
    force: config.restore.force,
    logger,
    now: ctx.now ?? (() => new Date()),
  });
  if (report.applied || report.completedInterrupted) {
    logger.warn(
      { origin: report.origin, sha256: report.sha256, movedAside: report.movedAside },
      `restored ${report.origin}; remove HQL_BACKUP_RESTORE${config.restore.force ? ' and HQL_BACKUP_RESTORE_FORCE' : ''} from the environment now${config.restore.force ? '' : ' (it will not be applied again, but it should not stay set)'}`,
    );
  }
  return report;
}
