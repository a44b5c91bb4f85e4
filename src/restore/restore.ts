import { mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { LifeboatError } from '../errors.js';
import { fsyncFile, tempPathFor } from '../fs/durable.js';
import type { VerifyOutcome } from '../sqlite/protocol.js';
import { type FetchInputs, materialise } from './fetch.js';
import { formatSource, type RestoreSource } from './source.js';
import type { StepHook } from './steps.js';
import {
  exists,
  intentPath,
  matchOwnership,
  type RestoreMarker,
  readIntent,
  readMarker,
  recoverInterruptedRestore,
  SIDECARS,
  settleOldDatabase,
  swapForward,
  writeIntent,
} from './swap.js';
import { validateBackup } from './validate.js';

/** Everything one restore needs; built by the composition root (src/compose.ts). */
export interface RestorePlan extends FetchInputs {
  readonly source: RestoreSource;
  readonly dbFile: string;
  readonly skipValidation: boolean;
  readonly expectTables: readonly string[];
  /** Apply even when the marker says this source was applied already. */
  readonly force: boolean;
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

/**
 * Restores `plan.source` into `plan.dbFile`: materialise into a temp file beside it, validate,
 * then a crash-safe swap that moves the old database (with -wal/-shm) aside instead of
 * deleting it (swap.ts). The caller holds the database lock, no connection is open on the
 * database, and any interrupted restore was completed at start-up.
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

  // (1) The marker: the same source is applied once, unless forced (Hiqlite re-applies it at every start).
  const marker = await readMarker(dbFile);
  // The same request, or s3:<object> naming the object an earlier s3:latest resolved to.
  const sameBackup =
    marker !== undefined &&
    (marker.source === sourceText ||
      (plan.source.kind === 's3' && marker.source.startsWith('s3:') && marker.origin === plan.source.object));
  if (marker && sameBackup && !plan.force) {
    if (await exists(dbFile)) {
      const as = marker.source === sourceText ? '' : ` (as ${marker.source})`;
      logger.warn(
        { source: sourceText, appliedAt: marker.appliedAt, origin: marker.origin },
        `the backup ${sourceText} was already restored at ${marker.appliedAt}${as}; NOT applying it again. ` +
          'Remove HQL_BACKUP_RESTORE now, or set HQL_BACKUP_RESTORE_FORCE=true ' +
          'to apply it again (discarding newer data)',
      );
      return { ...notApplied(marker, started), source: sourceText };
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
  const got = await materialise(plan.source, temp, plan);
  try {
    onStep?.('after-materialise');
    // (3) Validate the temp copy (the check converts it to rollback-journal mode: it is ours).
    const check = await validateBackup(temp, {
      skipValidation: plan.skipValidation,
      expectTables: plan.expectTables,
      logger,
    });
    await rm(`${temp}-journal`, { force: true });
    await fsyncFile(temp);
    logger.info(
      { origin: got.origin, bytes: got.bytes, sha256: got.sha256, tables: check.tables.length },
      'restore: backup validated',
    );
    onStep?.('after-validate');

    // (4) The swap: settle the old database, make the intent durable, then go forward.
    await settleOldDatabase(dbFile, logger);
    await matchOwnership(temp, dbFile);
    onStep?.('after-settle');
    const stamp = plan.now().toISOString().replace(/[:.]/g, '-');
    const aside = join(dirname(dbFile), `${basename(dbFile)}.before-restore-${stamp}`);
    const movedAside: string[] = [];
    for (const suffix of ['', ...SIDECARS]) if (await exists(dbFile + suffix)) movedAside.push(aside + suffix);
    const marker: RestoreMarker = {
      source: sourceText,
      origin: got.origin,
      sha256: got.sha256,
      appliedAt: plan.now().toISOString(),
      movedAside,
    };
    const intent = { temp, aside, marker };
    await writeIntent(dbFile, intent);
    onStep?.('after-intent');
    await swapForward(dbFile, intent, onStep);
    const kept = movedAside.length ? `; the previous one was kept at ${aside}` : '';
    logger.info({ db: dbFile, movedAside }, `restore: ${got.origin} is now the database${kept}`);
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
