import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import { LifeboatError } from '../errors.js';
import { type RestorePlan, type RestoreReport, recoverThenRestore } from './restore.js';
import type { RestoreSource } from './source.js';
import { recoverInterruptedRestore } from './swap.js';

export interface StartupRestore {
  readonly config: Config;
  readonly dbFile: string;
  readonly logger: Logger;
  /** Sidecar mode: the database belongs to another process, so HQL_BACKUP_RESTORE is refused. */
  readonly sidecar: boolean;
  /** The plan for HQL_BACKUP_RESTORE's source, from the composition root. */
  readonly plan: (source: RestoreSource) => RestorePlan;
}

/**
 * Start-up (Lifeboat.open, `lifeboat serve`): completes a restore a crash interrupted, then
 * applies HQL_BACKUP_RESTORE if it is set — once (the marker), validated before anything is
 * replaced. Runs with the database lock held and before the database is opened. Unlike
 * Hiqlite, an invalid HQL_BACKUP_RESTORE stops start-up instead of being logged and ignored.
 */
export async function restoreAtStartup(s: StartupRestore): Promise<RestoreReport | undefined> {
  const { config, dbFile, logger } = s;
  const source = config.restore.source;
  if (source && s.sidecar) {
    throw new LifeboatError(
      'RESTORE_SIDECAR',
      'HQL_BACKUP_RESTORE is set, but a sidecar does not own the database it backs up',
      {
        hint:
          'remove HQL_BACKUP_RESTORE; stop the application, ' +
          'run `lifeboat restore <source> --db <path>`, then start it again',
      },
    );
  }
  if (!source) {
    await recoverInterruptedRestore(dbFile, logger);
    return undefined;
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
