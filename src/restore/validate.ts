import type { Logger } from 'pino';
import { LifeboatError } from '../errors.js';
import { runSqliteWorker } from '../sqlite/client.js';
import type { VerifyOutcome } from '../sqlite/protocol.js';

export interface ValidateOptions {
  /** HQL_BACKUP_SKIP_VALIDATION: only the SQLite header is checked. */
  readonly skipValidation: boolean;
  /** Tables the backup must contain (HQL_BACKUP_RESTORE_EXPECT_TABLES). */
  readonly expectTables: readonly string[];
  readonly countRows?: boolean;
  readonly logger?: Logger;
}

/**
 * Header, integrity_check (unless skipped) and the expected tables, on a copy Lifeboat owns;
 * BACKUP_INVALID says what failed. The check converts the copy to rollback-journal mode.
 */
export async function validateBackup(path: string, options: ValidateOptions): Promise<VerifyOutcome> {
  if (options.skipValidation) {
    options.logger?.warn(
      'HQL_BACKUP_SKIP_VALIDATION=true: restoring without the ' +
        'integrity and table checks (the SQLite header is still checked)',
    );
  }
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
      { hint: 'nothing was changed; pick another backup (`lifeboat list`) or test one with `lifeboat verify`' },
    );
  }
  if (!options.skipValidation) {
    const present = new Set(outcome.tables.map((t) => t.name));
    const missing = options.expectTables.filter((t) => !present.has(t));
    if (missing.length > 0) {
      const has = [...present].join(', ') || 'no tables';
      throw new LifeboatError(
        'BACKUP_INVALID',
        `the backup lacks the expected table(s) ${missing.join(', ')} (it has: ${has})`,
        {
          hint:
            'is it a backup of this application? Check HQL_BACKUP_RESTORE_EXPECT_TABLES, ' +
            'or skip with HQL_BACKUP_SKIP_VALIDATION=true',
        },
      );
    }
  }
  return outcome;
}
