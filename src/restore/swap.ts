import { chmod, chown, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { LifeboatError } from '../errors.js';
import { fsyncDir, linkNoClobber, removeStaleTemps, TEMP_PREFIX, writeFileAtomic } from '../fs/durable.js';
import { isMissing } from '../fs/errno.js';
import { openersOf } from '../fs/openers.js';
import { readTextIfExists } from '../fs/read.js';
import Database from '../sqlite/driver.js';
import type { StepHook } from './steps.js';

/*
 * The crash-safe swap of a validated backup into the live database's place, and its recovery.
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
 * restore only goes forward: the next start completes an intent it finds, idempotently. The
 * live name always holds a complete database: the old one is kept by a hard link before the
 * temp is renamed over it, so it is the old one up to the rename and the new one from then on.
 */

/** What the marker beside the database records about the last restore. */
export interface RestoreMarker {
  readonly source: string;
  readonly origin: string;
  readonly sha256: string;
  readonly appliedAt: string;
  readonly movedAside: readonly string[];
}

/** The live database when the swap began (after it was settled and locked): recovery completes only if it still is. */
export interface LiveState {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface Intent {
  readonly temp: string;
  readonly aside: string;
  readonly marker: RestoreMarker;
  /** null: there was no database. Absent in intents of older versions (then not compared). */
  readonly live?: LiveState | null;
}

export const markerPath = (dbFile: string) => `${dbFile}.lifeboat-restore.json`;
export const intentPath = (dbFile: string) => `${dbFile}.lifeboat-restore-intent.json`;
export const SIDECARS = ['-wal', '-shm', '-journal'] as const;

export async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/** Writes JSON all-or-nothing; with `ownerOf` (as root), owned like that file, so the application can read it. */
async function writeJson(path: string, value: unknown, ownerOf?: string): Promise<void> {
  const owner = ownerOf && process.getuid?.() === 0 ? await stat(ownerOf) : undefined;
  await writeFileAtomic(path, JSON.stringify(value, null, 2), { owner });
}

/**
 * The marker, or undefined when there is none. An unreadable marker is an error: treating it
 * as absent could re-apply a backup over newer data.
 */
export async function readMarker(dbFile: string): Promise<RestoreMarker | undefined> {
  let text: string;
  try {
    text = await readFile(markerPath(dbFile), 'utf8');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw new LifeboatError(
      'MARKER_UNREADABLE',
      `the restore marker ${markerPath(dbFile)} cannot be read: ${(err as Error).message}`,
      { hint: 'check its owner and permissions (it belongs to the user that runs the application)', cause: err },
    );
  }
  try {
    const marker = JSON.parse(text) as RestoreMarker;
    if (typeof marker.source === 'string') return marker;
  } catch {
    // reported below
  }
  throw new LifeboatError('MARKER_UNREADABLE', `the restore marker ${markerPath(dbFile)} is not valid JSON`, {
    hint:
      'it records which backup was restored last (see docs/disaster-recovery.md); ' +
      'delete it only if you are sure HQL_BACKUP_RESTORE should be applied',
  });
}

/**
 * The restored file gets the owner, group and mode of the database it replaces — the
 * application must be able to open it, also when an operator restored as root. Without an old
 * database (a lost disk), those of its folder (mode without the execute bits). Changing the
 * owner needs root; otherwise the file is the restoring user's, as every file it writes.
 */
export async function matchOwnership(path: string, dbFile: string): Promise<void> {
  const like = (await stat(dbFile).catch(() => undefined)) ?? (await stat(dirname(dbFile)));
  await chmod(path, like.mode & 0o666);
  if (process.getuid?.() === 0) await chown(path, like.uid, like.gid);
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

export interface Held {
  /** The database as held (undefined when it could not be opened: damaged); null when there is none. */
  readonly live: LiveState | null;
  /** The database was in WAL mode before the hold settled it: the application chose WAL, the new one keeps it. */
  readonly wasWal: boolean;
  /** Ends the hold; the lock goes with the connection. */
  release(): void;
}

const stateOf = (s: { dev: number; ino: number; size: number; mtimeMs: number }): LiveState => ({
  dev: s.dev,
  ino: s.ino,
  size: s.size,
  mtimeMs: s.mtimeMs,
});

/**
 * Before a long download: refuses (DB_IN_USE) when another process has the database (or its
 * -wal/-shm) open, naming it. Changes nothing (bad input must leave the files as they were);
 * best effort (openers.ts), so the swap checks again, for certain, under its lock.
 */
export async function probeInUse(dbFile: string): Promise<void> {
  const pids = await openersOf([dbFile, `${dbFile}-wal`, `${dbFile}-shm`]);
  if (pids.length > 0) inUseBy(dbFile, pids);
}

function inUseBy(dbFile: string, pids: readonly number[]): never {
  throw inUse(
    dbFile,
    `process${pids.length > 1 ? 'es' : ''} ${pids.join(', ')} ${pids.length > 1 ? 'have' : 'has'} it open`,
  );
}

/** Test seams of {@link holdDatabase}. */
export interface HoldOptions {
  /** Runs between settling the database and locking it: where an application can switch it back to WAL. */
  readonly beforeLock?: () => void;
}

/** How often the hold settles again when the application switched the database back to WAL before the lock. */
const SETTLE_ATTEMPTS = 3;

/**
 * Settles the old database and holds it for the swap: its WAL folded into the main file,
 * switched to rollback-journal mode (which SQLite refuses while another connection has it
 * open in WAL mode: DB_IN_USE), then an exclusive lock, so nobody reads or writes it until the
 * new database has its name. The content does not change. An application that opens the
 * database during the hold waits (its busy timeout) and then opens the new one. A database
 * that cannot be opened (damaged) is not held: the swap moves it aside with its -wal/-shm as
 * a set, so an old WAL can never be applied to the new database.
 *
 * The hold must end in rollback-journal mode, checked under the lock. An application that
 * opens the database between settling and locking can switch it back to WAL; the lock would
 * then be taken in WAL mode, and a connection the application opened on the old file while
 * the hold lasted would, after the swap, commit into `{db}-wal` — a file SQLite opens by
 * name, so the new database's — where the new database then reads the old one's pages as its
 * own. In rollback mode that connection has to write a journal first, and SQLite refuses it
 * (SQLITE_READONLY_DBMOVED): its transaction fails instead of landing in the wrong file.
 */
export async function holdDatabase(dbFile: string, logger: Logger, options: HoldOptions = {}): Promise<Held> {
  const before = await stat(dbFile).catch(() => undefined);
  if (!before) return { live: null, wasWal: false, release: () => undefined };
  let db: InstanceType<typeof Database> | undefined;
  let wasWal = false;
  try {
    for (let attempt = 1; ; attempt++) {
      db = new Database(dbFile, { fileMustExist: true, timeout: 2000 });
      wasWal = settle(db, dbFile) || wasWal;
      options.beforeLock?.();
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      db.prepare('SELECT count(*) FROM sqlite_schema').get();
      if (journalModeOf(db) !== 'wal') break;
      // Switched back to WAL before the lock: closing folds what was committed since into the
      // file (nobody else has it open now), and the next attempt settles it again.
      db.exec('ROLLBACK');
      db.close();
      db = undefined;
      if (attempt === SETTLE_ATTEMPTS) throw inUse(dbFile, 'it was switched back to WAL mode while being settled');
    }
  } catch (err) {
    db?.close();
    if (err instanceof LifeboatError) throw err;
    if (isBusy(err)) throw inUse(dbFile, 'it is locked');
    logger.warn(
      { db: dbFile, err: (err as Error).message },
      'the current database could not be opened to settle it; it is moved aside as it is, with its -wal/-shm',
    );
    return { live: stateOf(before), wasWal: false, release: () => undefined };
  }
  for (const suffix of ['-wal', '-journal'] as const) {
    const side = await stat(dbFile + suffix).catch(() => undefined);
    if (side && side.size > 0) {
      db.close();
      throw inUse(dbFile, `its ${suffix} file appeared while it was being settled`);
    }
  }
  const held = db;
  return {
    live: stateOf(await stat(dbFile)),
    wasWal,
    release: () => {
      if (held.inTransaction) held.exec('ROLLBACK');
      held.close();
    },
  };
}

/**
 * Puts the new database (not yet live) in WAL mode: a backup is a rollback-journal file, and
 * an application that chose WAL once (it persists in the file) would otherwise run in rollback
 * mode after a restore — its readers blocking its writer, and continuous backup refusing it
 * (PITR_NOT_WAL). Only the header changes; SQLite syncs it, the close removes the empty WAL.
 */
export function keepWalMode(temp: string): void {
  const db = new Database(temp, { fileMustExist: true });
  try {
    if (journalModeOf(db, 'wal') !== 'wal') throw new Error(`${temp} could not be switched to WAL mode`);
  } finally {
    db.close();
  }
}

/** The connection's journal mode, after setting it to `set` when given (SQLite answers the mode it is in). */
const journalModeOf = (db: InstanceType<typeof Database>, set?: 'wal' | 'delete') =>
  String(db.pragma(set ? `journal_mode = ${set}` : 'journal_mode', { simple: true }));

/**
 * Folds the WAL into the main file and switches to rollback-journal mode; DB_IN_USE when a
 * connection prevents it. True when the database was in WAL mode.
 */
function settle(db: InstanceType<typeof Database>, dbFile: string): boolean {
  if (journalModeOf(db) !== 'wal') return false;
  const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
  if (result?.busy) throw inUse(dbFile, 'a reader or writer kept the checkpoint from completing');
  if (journalModeOf(db, 'delete') !== 'delete') throw inUse(dbFile, 'another connection keeps it in WAL mode');
  return true;
}

/** What changed in the live database since the intent was written, or undefined when nothing did. */
async function changedSince(dbFile: string, intent: Intent): Promise<string | undefined> {
  if (intent.live === undefined) return undefined;
  const now = await stat(dbFile).catch(() => undefined);
  if (intent.live === null) return now ? `a database was created at ${dbFile}` : undefined;
  if (!now) {
    // Without hard links the live file was renamed aside: then it is there, unchanged.
    const aside = await stat(intent.aside).catch(() => undefined);
    return aside && aside.ino === intent.live.ino && aside.dev === intent.live.dev ? undefined : `${dbFile} is gone`;
  }
  const was = intent.live;
  if (now.ino !== was.ino || now.dev !== was.dev) return `${dbFile} was replaced by another file`;
  if (now.size !== was.size || now.mtimeMs !== was.mtimeMs) {
    const when = new Date(now.mtimeMs).toISOString();
    return `${dbFile} was written to (${was.size} → ${now.size} bytes, last modified ${when})`;
  }
  for (const suffix of ['-wal', '-journal'] as const) {
    const side = await stat(dbFile + suffix).catch(() => undefined);
    if (side && side.size > 0) return `${dbFile}${suffix} holds ${side.size} bytes written since`;
  }
  return undefined;
}

/** Makes the intent durable: from here on the restore only goes forward. */
export async function writeIntent(dbFile: string, intent: Intent): Promise<void> {
  await writeJson(intentPath(dbFile), intent);
}

/** The swap, idempotent: every step checks whether it was done already. */
export async function swapForward(dbFile: string, intent: Intent, onStep: StepHook): Promise<void> {
  if (await exists(intent.temp)) {
    // Sidecars exist only when settling was impossible (e.g. a damaged database): they move
    // with it as a set, so an old WAL can never be applied to the new database.
    for (const suffix of SIDECARS) {
      if (!(await exists(dbFile + suffix))) continue;
      if (await exists(intent.aside + suffix)) {
        throw tamperedDuringRestore(dbFile, intent, `${dbFile}${suffix} and ${intent.aside}${suffix} both exist`);
      }
      await rename(dbFile + suffix, intent.aside + suffix);
    }
    const live = await stat(dbFile).catch(() => undefined);
    const kept = await stat(intent.aside).catch(() => undefined);
    // Keeps the old main file under `aside` without removing the live name; where the file
    // system has no hard links it is renamed, and the intent makes a crash in that gap complete forward.
    if (live && !kept) await linkNoClobber(dbFile, intent.aside);
    // Both present: the hard link made them one file. Two different files mean something
    // created a database here after the crash; replacing it could lose data.
    if (live && kept && (live.ino !== kept.ino || live.dev !== kept.dev)) {
      throw tamperedDuringRestore(dbFile, intent, `${dbFile} is not the database kept at ${intent.aside}`);
    }
    await fsyncDir(dirname(dbFile));
    onStep?.('after-keep-old');
    await rename(intent.temp, dbFile);
    await fsyncDir(dirname(dbFile));
    onStep?.('after-rename');
  } else if (!(await exists(dbFile))) {
    throw new LifeboatError(
      'RESTORE_BROKEN',
      `an interrupted restore left neither the new database ${intent.temp} nor ${dbFile}`,
      {
        hint:
          `the previous database was kept at ${intent.aside}; ` +
          `copy it back to ${dbFile}, then delete ${intentPath(dbFile)}`,
      },
    );
  }
  await writeJson(markerPath(dbFile), intent.marker, dbFile);
  onStep?.('after-marker');
  await rm(intentPath(dbFile), { force: true });
  await fsyncDir(dirname(dbFile));
}

function tamperedDuringRestore(dbFile: string, intent: Intent, what: string): LifeboatError {
  return new LifeboatError(
    'RESTORE_BROKEN',
    `cannot complete the interrupted restore of ${intent.marker.origin}: ${what}; ` +
      `something opened the database after the crash`,
    {
      hint:
        `nothing more was changed. Compare ${dbFile} and ${intent.aside} (with their -wal), ` +
        `keep the right one at ${dbFile}, then delete ${intentPath(dbFile)} and ${intent.temp}`,
    },
  );
}

function parseIntent(text: string, dbFile: string): Intent | undefined {
  try {
    const intent = JSON.parse(text) as Intent;
    const dir = dirname(dbFile);
    const inDir = (p: unknown) => typeof p === 'string' && dirname(p) === dir;
    const tempOk = inDir(intent.temp) && basename(intent.temp).startsWith(TEMP_PREFIX);
    if (tempOk && inDir(intent.aside) && typeof intent.marker?.source === 'string') return intent;
  } catch {
    // reported by the caller
  }
  return undefined;
}

/** The intent of an interrupted restore, if one is pending; RESTORE_BROKEN when it is unreadable. */
export async function readIntent(dbFile: string): Promise<Intent | undefined> {
  const text = await readTextIfExists(intentPath(dbFile));
  if (text === undefined) return undefined;
  // The intent is written to a temp name and renamed, so a torn one cannot come from a crash.
  const intent = parseIntent(text, dbFile);
  if (!intent) {
    throw new LifeboatError(
      'RESTORE_BROKEN',
      `the restore intent file ${intentPath(dbFile)} is unreadable, so an interrupted restore cannot be completed`,
      {
        hint:
          `${dbFile} holds a complete database (the previous one or the restored one); check it ` +
          `with \`lifeboat verify file:${dbFile}\`, then delete ${intentPath(dbFile)} and start again`,
      },
    );
  }
  return intent;
}

/**
 * Finishes a swap that a crash interrupted: once the intent file is durable the restore only
 * goes forward, so after any crash the database is the complete old one (no intent) or the
 * complete new one. Also removes temp copies of restores that died earlier. Runs once when a
 * process that owns the database starts, before the database is opened. Returns the marker of
 * the restore it completed, if any.
 */
export async function recoverInterruptedRestore(
  dbFile: string,
  logger: Logger,
  onStep?: StepHook,
): Promise<RestoreMarker | undefined> {
  const intent = await readIntent(dbFile);
  if (intent) {
    if (await exists(intent.temp)) {
      // Not yet renamed: finishing now would move aside whatever the live database became.
      const changed = await changedSince(dbFile, intent);
      if (changed) throw conflict(dbFile, intent, changed);
    }
    logger.warn(
      { db: dbFile, backup: intent.marker.origin },
      `completing the restore of ${intent.marker.origin} that was interrupted`,
    );
    await swapForward(dbFile, intent, onStep);
  }
  await removeStaleTemps(dirname(dbFile), `${basename(dbFile)}.`);
  return intent?.marker;
}

function conflict(dbFile: string, intent: Intent, changed: string): LifeboatError {
  return new LifeboatError(
    'RESTORE_CONFLICT',
    `an interrupted restore of ${intent.marker.origin} was not completed, because ${changed} after it began: ` +
      'completing it now would discard those writes. Both are kept: the database as it is now at ' +
      `${dbFile}, and the validated backup at ${intent.temp}`,
    {
      hint:
        `to keep the database as it is: delete ${intentPath(dbFile)} (the backup copy is then removed at the next ` +
        `start). To restore the backup anyway: stop the application, move ${intent.temp} to a name of your own, ` +
        `delete ${intentPath(dbFile)}, and run \`lifeboat restore file:<that name> --force\``,
    },
  );
}

/**
 * Undoes a swap that failed before the new database got its name: the sidecars and the
 * aside name go back, the intent goes; the live database is as it was. Best effort: what
 * cannot be undone is left for the next start, which completes it only if nothing changed.
 */
export async function rollbackSwap(dbFile: string, intent: Intent): Promise<void> {
  if (!(await exists(intent.temp))) return; // renamed: the new database is live; forward only
  const live = await stat(dbFile).catch(() => undefined);
  const aside = await stat(intent.aside).catch(() => undefined);
  if (!live && aside)
    await rename(intent.aside, dbFile); // no hard links: it was renamed aside
  else if (live && aside && live.ino === aside.ino && live.dev === aside.dev) await rm(intent.aside);
  for (const suffix of SIDECARS) {
    if ((await exists(intent.aside + suffix)) && !(await exists(dbFile + suffix))) {
      await rename(intent.aside + suffix, dbFile + suffix);
    }
  }
  await rm(intentPath(dbFile), { force: true });
  await fsyncDir(dirname(dbFile));
}
