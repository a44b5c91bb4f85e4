import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { LifeboatError } from '../../errors.js';
import { acquireLock, lockOwner } from '../../fs/lock.js';
import { recoverThenRestore } from '../../restore/restore.js';
import { parseRestoreSource } from '../../restore/source.js';
import { type ConfigFlag, formatBytes, formatDuration, withConfigOption, withParts } from '../context.js';
import { createProgress } from '../progress.js';
import { action } from '../run.js';

interface RestoreFlags extends ConfigFlag {
  db?: string;
  force?: boolean;
  skipValidation?: boolean;
}

/** `lifeboat restore <source>`: the same restore as at start-up, for an operator, while nothing runs. */
export function registerRestore(program: Command): void {
  withConfigOption(program.command('restore'))
    .description('restore a backup into the database (validated first; the old database is moved aside, not deleted)')
    .argument('<source>', 's3:<object> | s3:latest | file:<absolute path>')
    .option('--db <path>', 'database file to restore into (default: {data_dir}/state_machine/db/{filename_db})')
    .option('--force', 'apply even if this source was restored before (see the restore marker)')
    .option(
      '--skip-validation',
      'skip integrity_check and the expected-tables check (the SQLite header is still checked)',
    )
    .action(
      action(async (sourceText: string, flags: RestoreFlags) => {
        const source = parseRestoreSource(sourceText, 'source');
        return withParts(flags, async (parts) => {
          const { dbFile } = parts;
          const owner = await lockOwner(parts.locks.database);
          if (owner) {
            throw new LifeboatError(
              'LOCKED',
              owner.pid === 0
                ? `a Lifeboat process holds ${dbFile} (which one is not recorded yet)`
                : `a Lifeboat process (pid ${owner.pid} on ${owner.host}, ${owner.purpose}) holds ${dbFile}`,
              { hint: 'stop the application or `lifeboat serve` first; a restore must not replace a database in use' },
            );
          }
          if (source.kind !== 'file') await parts.checkRemote();
          // Created when missing (a lost disk): the lock file lives there. An existing folder keeps its permissions.
          await mkdir(dirname(dbFile), { recursive: true, mode: 0o700 });
          const lock = await acquireLock(parts.locks.database, 'restore');
          let progress: ReturnType<typeof createProgress> | undefined;
          try {
            const report = await recoverThenRestore(
              parts.restorePlan(source, {
                force: flags.force ?? false,
                skipValidation: flags.skipValidation,
                onProgress: (bytes, total) => {
                  progress ??= createProgress({ label: 'restore', ...(total !== undefined ? { total } : {}) });
                  progress.update(bytes);
                },
              }),
            );
            progress?.done();
            if (report.completedInterrupted) {
              const kept = report.movedAside.length ? `\nprevious database kept at ${report.movedAside[0]}` : '';
              process.stdout.write(`completed the interrupted restore of ${report.origin} into ${dbFile}${kept}\n`);
              return 0;
            }
            if (!report.applied) {
              process.stdout.write(
                `not applied: ${report.source} was restored before ` +
                  `(marker beside ${dbFile}); use --force to apply it again\n`,
              );
              return 1;
            }
            const lines = [
              `restored ${report.origin}`,
              `into     ${dbFile}`,
              `size     ${formatBytes(report.bytes)}, ${report.tables.length} tables, sha256 ${report.sha256}`,
              `took     ${formatDuration(report.durationMs)}`,
              report.movedAside.length
                ? `previous database kept at ${report.movedAside[0]}`
                : 'there was no previous database',
            ];
            process.stdout.write(`${lines.join('\n')}\n`);
            return 0;
          } finally {
            await lock.release();
          }
        });
      }),
    );
}
