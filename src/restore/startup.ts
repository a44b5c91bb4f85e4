import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import { LifeboatError } from '../errors.js';
import { type RestorePlan, type RestoreReport, recoverThenRestore, restoreDatabase } from './restore.js';
import { formatSource, type RestoreSource } from './source.js';
import { exists, intentPath, readIntent, recoverInterruptedRestore } from './swap.js';

export interface StartupRestore {
  readonly config: Config;
  readonly dbFile: string;
  readonly logger: Logger;
  /** Sidecar mode: the database belongs to another process, so no restore runs here. */
  readonly sidecar: boolean;
  /** The plan for a start-up restore of `source`, from the composition root. */
  readonly plan: (source: RestoreSource) => RestorePlan;
}

/**
 * Start-up (Lifeboat.open, `lifeboat serve`): completes a restore a crash interrupted (only
 * when the database did not change since), then applies HQL_BACKUP_RESTORE if it is set —
 * once (the marker), validated before anything is replaced — or, when the database file is
 * missing, HQL_BACKUP_RESTORE_IF_MISSING. Runs with the database lock held and before the
 * database is opened. Unlike Hiqlite, an invalid HQL_BACKUP_RESTORE stops start-up (the
 * configuration refuses it) instead of being logged and ignored.
 */
export async function restoreAtStartup(s: StartupRestore): Promise<RestoreReport | undefined> {
  const { config, dbFile, logger } = s;
  const source = config.restore.source;
  if (s.sidecar) {
    if (source) {
      throw new LifeboatError(
        'RESTORE_SIDECAR',
        'HQL_BACKUP_RESTORE is set, but a sidecar does not own the database it backs up',
        {
          hint:
            'remove HQL_BACKUP_RESTORE; stop the application, run `lifeboat restore <source> --db <path>`, ' +
            'then start it again',
        },
      );
    }
    // The application may be writing this database: a sidecar never swaps it. Say so, loudly.
    const pending = await readIntent(dbFile);
    if (pending) {
      logger.error(
        { db: dbFile, intent: intentPath(dbFile), backup: pending.marker.origin },
        `an interrupted restore of ${pending.marker.origin} is pending for ${dbFile}; ` +
          'a sidecar does not complete it. ' +
          `Stop the application and run \`lifeboat restore ${pending.marker.source} --db ${dbFile}\` to complete it, ` +
          `or delete ${intentPath(dbFile)} to abandon it`,
      );
    }
    return undefined;
  }
  if (!source) {
    await recoverInterruptedRestore(dbFile, logger);
    const ifMissing = config.restore.ifMissing;
    if (!ifMissing || (await exists(dbFile))) return undefined;
    logger.warn(
      { db: dbFile, source: formatSource(ifMissing) },
      `no database at ${dbFile}: restoring ${formatSource(ifMissing)} (HQL_BACKUP_RESTORE_IF_MISSING)`,
    );
    try {
      return await restoreDatabase(s.plan(ifMissing));
    } catch (err) {
      if (!(err instanceof LifeboatError && err.code === 'NO_BACKUPS')) throw err;
      logger.info({ db: dbFile }, `${err.message}: starting with a new, empty database`);
      return undefined;
    }
  }
  if (config.restore.force) {
    logger.warn(
      'HQL_BACKUP_RESTORE_FORCE=true: the backup is applied even if it was applied before, at EVERY start while this ' +
        'stays set; remove HQL_BACKUP_RESTORE_FORCE after this start',
    );
  }
  const report = await recoverThenRestore(s.plan(source));
  if (report.applied || report.completedInterrupted) {
    const vars = config.restore.force ? 'HQL_BACKUP_RESTORE and HQL_BACKUP_RESTORE_FORCE' : 'HQL_BACKUP_RESTORE';
    const why = config.restore.force ? '' : ' (it will not be applied again, but it should not stay set)';
    logger.warn(
      { origin: report.origin, sha256: report.sha256, movedAside: report.movedAside },
      `restored ${report.origin}; remove ${vars} from the environment now${why}`,
    );
  }
  return report;
}
