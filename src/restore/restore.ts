import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { LifeboatError } from '../errors.js';
import { ensureDir, fsyncFile, tempPathFor } from '../fs/durable.js';
import { DB_ID_METADATA, readDatabaseId, storeOwner, writeDatabaseId } from '../identity/identity.js';
import type { VerifyOutcome } from '../sqlite/protocol.js';
import {
  type FetchInputs,
  materialise,
  originOf,
  type PitrPoint,
  type ResolvedSource,
  resolveSource,
} from './fetch.js';
import { formatSource, type RestoreSource } from './source.js';
import type { StepHook } from './steps.js';
import {
  exists,
  holdDatabase,
  type Intent,
  intentPath,
  keepWalMode,
  matchOwnership,
  probeInUse,
  type RestoreMarker,
  readIntent,
  readMarker,
  recoverInterruptedRestore,
  rollbackSwap,
  SIDECARS,
  swapForward,
  writeIntent,
} from './swap.js';
import { validateBackup } from './validate.js';

/**
 * Who asked: HQL_BACKUP_RESTORE at start-up applies a source once (the marker); an operator's
 * `lifeboat restore` applies a backup once unless forced, and `s3:latest` there means the
 * newest backup now; a library call is the intent itself.
 */
export type RestoreRequester = 'startup' | 'cli' | 'library';

/** Everything one restore needs; built by the composition root (src/compose.ts). */
export interface RestorePlan extends FetchInputs {
  readonly source: RestoreSource;
  readonly dbFile: string;
  readonly skipValidation: boolean;
  readonly expectTables: readonly string[];
  /** Apply even when the marker says this backup was applied already. */
  readonly force: boolean;
  readonly requestedBy: RestoreRequester;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Hears each step boundary (the crash tests kill the process there). */
  readonly onStep?: StepHook;
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
  /** A continuous-backup restore: the transaction restored and the newest one the bucket holds. */
  readonly pitr?: PitrPoint;
}

/**
 * The start of a process that owns the database (Lifeboat.open, `lifeboat restore`): completes
 * a restore a crash interrupted, then restores `plan.source` — unless the completed one was
 * this very source, which is then in place.
 */
export async function recoverThenRestore(plan: RestorePlan): Promise<RestoreReport> {
  const started = performance.now();
  const completed = await recoverInterruptedRestore(plan.dbFile, plan.logger, plan.onStep);
  if (completed && completed.source === formatSource(plan.source)) {
    return { ...notApplied(completed, started), completedInterrupted: true, movedAside: completed.movedAside };
  }
  return restoreDatabase(plan);
}

function notApplied(marker: RestoreMarker, started: number): RestoreReport {
  return {
    applied: false,
    completedInterrupted: false,
    source: marker.source,
    origin: marker.origin,
    sha256: marker.sha256,
    bytes: 0,
    tables: [],
    movedAside: [],
    durationMs: performance.now() - started,
  };
}

/** The marker records this very backup: the same object of the store, or the same file. */
function sameBackup(marker: RestoreMarker, resolved: ResolvedSource): boolean {
  const wasObject = marker.source.startsWith('s3:');
  return (resolved.kind === 'object') === wasObject && marker.origin === originOf(resolved);
}

/** Why a request is not applied again, or undefined to apply it. */
function alreadyApplied(
  plan: RestorePlan,
  marker: RestoreMarker | undefined,
  resolved: ResolvedSource,
): string | undefined {
  if (!marker || plan.force) return undefined;
  const text = formatSource(plan.source);
  const when = `at ${marker.appliedAt}`;
  if (plan.requestedBy === 'startup') {
    // Applied once: also s3:latest, although newer backups may exist (Hiqlite re-applies it at every start).
    if (marker.source !== text && !sameBackup(marker, resolved)) return undefined;
    const as = marker.source === text ? '' : ` (as ${marker.source})`;
    return (
      `the backup ${text} was already restored ${when}${as}; NOT applying it again. Remove ` +
      'HQL_BACKUP_RESTORE now, or set HQL_BACKUP_RESTORE_FORCE=true to apply it again (discarding newer data)'
    );
  }
  if (!sameBackup(marker, resolved)) return undefined;
  return `${originOf(resolved)} was already restored ${when} (as ${marker.source}); use --force to apply it again`;
}

/**
 * Restores `plan.source` into `plan.dbFile`: find the backup; refuse a database in use before
 * the download; materialise it into a temp file beside the database; validate; then the
 * crash-safe swap (swap.ts), which keeps the old database instead of deleting it. The caller
 * holds the database lock and no connection of its own is open on the database; any
 * interrupted restore was handled when the process started.
 */
export async function restoreDatabase(plan: RestorePlan): Promise<RestoreReport> {
  const started = performance.now();
  const { dbFile, logger, onStep } = plan;
  const sourceText = formatSource(plan.source);
  if (await readIntent(dbFile)) {
    throw new LifeboatError('RESTORE_BROKEN', `an interrupted restore is pending at ${intentPath(dbFile)}`, {
      hint:
        'it is completed when the database is next opened ' +
        '(restart the application, or run `lifeboat restore` again)',
    });
  }

  const resolved = await resolveSource(plan.source, plan);
  const marker = await readMarker(dbFile);
  const skip = alreadyApplied(plan, marker, resolved);
  if (skip && marker) {
    if (await exists(dbFile)) {
      logger.warn({ source: sourceText, appliedAt: marker.appliedAt, origin: marker.origin }, skip);
      return { ...notApplied(marker, started), source: sourceText };
    }
    logger.warn(
      { source: sourceText, db: dbFile },
      `${sourceText} was restored before, but ${dbFile} is gone: restoring it again`,
    );
  }
  await probeInUse(dbFile);

  // Materialise into a temp file beside the database. Its folder may be gone with a lost disk.
  await ensureDir(dirname(dbFile));
  const temp = tempPathFor(dbFile);
  logger.info({ source: sourceText, origin: originOf(resolved), db: dbFile }, 'restore: fetching the backup');
  const got = await materialise(resolved, temp, plan);
  let intent: Intent | undefined;
  try {
    onStep?.('after-materialise');
    // Validate the temp copy (the check converts it to rollback-journal mode: it is ours).
    // Meanwhile it is hashed on the core the check leaves free, and its gigabytes go to disk
    // (the check reads them from the page cache); the sync after the check is then short.
    const [check, sha256] = await allSettled(
      validateBackup(temp, {
        skipValidation: plan.skipValidation,
        expectTables: plan.expectTables,
        logger,
      }),
      got.sha256(),
      fsyncFile(temp),
    );
    await rm(`${temp}-journal`, { force: true });
    await fsyncFile(temp);
    logger.info(
      { origin: got.origin, bytes: got.bytes, sha256, tables: check.tables.length },
      'restore: backup validated',
    );
    onStep?.('after-validate');

    // The swap: settle and hold the old database, make the intent durable, then go forward.
    const held = await holdDatabase(dbFile, logger);
    const stamp = plan.now().toISOString().replace(/[:.]/g, '-');
    const aside = join(dirname(dbFile), `${basename(dbFile)}.before-restore-${stamp}`);
    const movedAside: string[] = [];
    try {
      await matchOwnership(temp, dbFile);
      if (held.wasWal) keepWalMode(temp);
      onStep?.('after-settle');
      for (const suffix of ['', ...SIDECARS]) if (await exists(dbFile + suffix)) movedAside.push(aside + suffix);
      const marker: RestoreMarker = {
        source: sourceText,
        origin: got.origin,
        sha256,
        appliedAt: plan.now().toISOString(),
        movedAside,
      };
      intent = { temp, aside, marker, live: held.live };
      await writeIntent(dbFile, intent);
      onStep?.('after-intent');
      await swapForward(dbFile, intent, onStep);
    } finally {
      held.release();
    }
    await keepIdentity(plan, resolved);
    const kept = movedAside.length ? `; the previous one was kept at ${aside}` : '';
    logger.info({ db: dbFile, movedAside }, `restore: ${got.origin} is now the database${kept}`);
    return {
      applied: true,
      completedInterrupted: false,
      source: sourceText,
      origin: got.origin,
      sha256,
      bytes: got.bytes,
      tables: check.tables,
      movedAside,
      durationMs: performance.now() - started,
      ...(got.pitr ? { pitr: got.pitr } : {}),
    };
  } catch (err) {
    throw await afterFailure(err, dbFile, temp, intent);
  }
}

/** All results; when one fails, the first error once all have settled (nothing is left using the copy). */
async function allSettled<T extends unknown[]>(...promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(promises);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as T;
}

/**
 * A database without its id file (a new machine, a lost disk) takes the identity of the backup
 * just put in place, so its next backups go on where its old ones are. A database that has one
 * keeps it: the identity belongs to the place. Never fails the restore.
 */
async function keepIdentity(plan: RestorePlan, resolved: ResolvedSource): Promise<void> {
  try {
    if (await readDatabaseId(plan.dbFile)) return;
    let id: string | undefined;
    if (resolved.kind === 'object' && plan.remote) {
      id = (await plan.remote.stat(resolved.name))?.metadata?.[DB_ID_METADATA] ?? (await storeOwner(plan.remote));
    } else if (resolved.kind === 'file' && plan.local && dirname(resolved.path) === plan.local.dir) {
      id = await storeOwner(plan.local);
    }
    if (id) await writeDatabaseId(plan.dbFile, id);
  } catch (err) {
    plan.logger.warn(
      { db: plan.dbFile, err: (err as Error).message },
      'the restored database could not take the identity of its backup; its next backup establishes one',
    );
  }
}

/**
 * Cleans up after a failed restore and says what state the database is in: before the new
 * database has its name, the swap is undone and nothing changed; after it, the new database
 * is live and only the bookkeeping is left for the next start.
 */
async function afterFailure(err: unknown, dbFile: string, temp: string, intent: Intent | undefined): Promise<unknown> {
  if (intent && !(await exists(intent.temp))) {
    return new LifeboatError(
      'RESTORE_INCOMPLETE',
      `${dbFile} is now the restored backup ${intent.marker.origin}, but the restore could not record it: ` +
        `${(err as Error).message}. The previous database is kept at ${intent.aside}`,
      {
        hint: 'the next start (or `lifeboat restore`) finishes the bookkeeping; nothing needs to be done by hand',
        cause: err,
      },
    );
  }
  if (intent) {
    try {
      await rollbackSwap(dbFile, intent);
    } catch (undo) {
      return new LifeboatError(
        'RESTORE_BROKEN',
        `the restore of ${intent.marker.origin} failed (${(err as Error).message}) and could not be undone ` +
          `(${(undo as Error).message}); ${dbFile} is still the previous database`,
        {
          hint: `the next start completes the restore only if ${dbFile} is unchanged; see ${intentPath(dbFile)}`,
          cause: err,
        },
      );
    }
  }
  await rm(temp, { force: true });
  await rm(`${temp}-journal`, { force: true });
  if (err instanceof LifeboatError || !intent) return err;
  return new LifeboatError(
    'RESTORE_BROKEN',
    `the restore failed before the swap (${(err as Error).message}); nothing was changed`,
    {
      cause: err,
    },
  );
}
