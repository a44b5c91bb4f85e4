import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, EXIT_USAGE, LifeboatError } from '../../errors.js';
import { ensureDir } from '../../fs/durable.js';
import { acquireLock, lockOwner } from '../../fs/lock.js';
import { formatSize } from '../../fs/space.js';
import { iso } from '../../pitr/restore/plan.js';
import { type RestoreReport, recoverThenRestore } from '../../restore/restore.js';
import { parseRestoreSource, pitrSource, type RestoreSource } from '../../restore/source.js';
import { type ConfigFlag, formatDuration, withConfigOption, withParts } from '../context.js';
import { withInterrupt } from '../interrupt.js';
import { createProgress } from '../progress.js';
import { action } from '../run.js';

interface RestoreFlags extends ConfigFlag {
  db?: string;
  force?: boolean;
  acceptOlder?: boolean;
  skipValidation?: boolean;
  ifDbNotExists?: boolean;
  ifReplicaExists?: boolean;
  json?: boolean;
  pitr?: string;
  dbId?: string;
  timeline?: string;
}

/** The source from the argument, or from --pitr (and --db-id); exactly one of the two (undefined: neither). */
function sourceOf(sourceText: string | undefined, flags: RestoreFlags): RestoreSource | undefined {
  if (flags.pitr === undefined) {
    if (flags.dbId !== undefined) throw new ConfigError(['--db-id goes with --pitr']);
    if (flags.timeline !== undefined) throw new ConfigError(['--timeline goes with --pitr']);
    if (sourceText === undefined) return undefined;
    return parseRestoreSource(sourceText, { name: 'source', cwd: process.cwd() });
  }
  if (sourceText !== undefined)
    throw new ConfigError([`restore either ${sourceText} or --pitr ${flags.pitr}, not both`]);
  const source = pitrSource(flags.pitr, flags.dbId, flags.timeline);
  if (typeof source === 'string') {
    const on = flags.timeline === undefined ? '' : ` --timeline ${flags.timeline}`;
    const forms = on
      ? 'use latest or time:<RFC 3339 time> with --timeline'
      : 'use latest, txid:<N> or time:<RFC 3339 time>';
    throw new ConfigError([`--pitr ${flags.pitr}${on}: ${source}; ${forms}`]);
  }
  return source;
}

/** `lifeboat restore <source>`: the same restore as at start-up, for an operator, while nothing runs. */
export function registerRestore(program: Command): void {
  withConfigOption(program.command('restore'))
    .description('restore a backup into the database (validated first; the old database is moved aside, not deleted)')
    .argument('[source]', 's3:<object> | s3:latest | local:<name> | local:latest | <name> | file:<path>')
    .option('--pitr <point>', 'restore continuous backup to a point: latest | txid:<N> | time:<RFC 3339 time>')
    .option('--db-id <id>', 'with --pitr: the database whose continuous backup to use (when the bucket holds several)')
    .option(
      '--timeline <K>',
      'with --pitr latest|time:…: on timeline K, a branch an earlier restore left (`lifeboat pitr list` shows them)',
    )
    .option('--db <path>', 'database file to restore into (default: {data_dir}/state_machine/db/{filename_db})')
    .option('--force', 'apply even if this backup was restored before (see the restore marker)')
    .option(
      '--accept-older',
      "with --pitr: restore what the bucket holds even where this host's capture shipped more (PITR_BUCKET_BEHIND)",
    )
    .option('--if-db-not-exists', 'do nothing (exit 0) when the database exists: for an init container')
    .option('--if-replica-exists', 'do nothing (exit 0) when there is no backup to restore, instead of exit 4')
    .option(
      '--skip-validation',
      'skip integrity_check and the expected-tables check (the SQLite header is still checked)',
    )
    .option('--json', 'print the result as JSON')
    .action(
      action(async (sourceText: string | undefined, flags: RestoreFlags) => {
        const source = sourceOf(sourceText, flags);
        if (!source) {
          // The argument is optional only because --pitr can stand for it: the usage error
          // commander gives for a missing argument, word for word.
          process.stderr.write("lifeboat: missing required argument 'source'\ntry 'lifeboat restore --help'\n");
          return EXIT_USAGE;
        }
        return withParts(flags, async (parts) => {
          const { dbFile } = parts;
          const say = (text: string, report?: Partial<RestoreReport> & { reason?: string }) =>
            process.stdout.write(
              flags.json ? `${JSON.stringify({ applied: false, ...report }, null, 2)}\n` : `${text}\n`,
            );
          if (flags.ifDbNotExists && (await stat(dbFile).catch(() => undefined))) {
            say(`not restored: ${dbFile} exists (--if-db-not-exists)`, { reason: 'database exists' });
            return 0;
          }
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
          // Created when missing (a lost disk): the lock file lives there. An existing folder is left as it is.
          await ensureDir(dirname(dbFile));
          const lock = await acquireLock(parts.locks.database, 'restore');
          let progress: ReturnType<typeof createProgress> | undefined;
          try {
            const report = await withInterrupt((signal) =>
              recoverThenRestore(
                parts.restorePlan(source, {
                  requestedBy: 'cli',
                  force: flags.force ?? false,
                  acceptOlder: flags.acceptOlder,
                  skipValidation: flags.skipValidation,
                  signal,
                  onProgress: (bytes, total) => {
                    progress ??= createProgress({ label: 'restore', ...(total !== undefined ? { total } : {}) });
                    progress.update(bytes);
                  },
                }),
              ),
            ).catch((err: unknown) => {
              if (flags.ifReplicaExists && err instanceof LifeboatError && err.code === 'NO_BACKUPS') return err;
              throw err;
            });
            progress?.done();
            if (report instanceof LifeboatError) {
              say(`not restored: ${report.message} (--if-replica-exists)`, { reason: 'no backups' });
              return 0;
            }
            if (flags.json) {
              process.stdout.write(`${JSON.stringify({ ...report, database: dbFile }, null, 2)}\n`);
              return report.applied || report.completedInterrupted ? 0 : 1;
            }
            if (report.completedInterrupted) {
              const kept = report.movedAside.length ? `\nprevious database kept at ${report.movedAside[0]}` : '';
              process.stdout.write(`completed the interrupted restore of ${report.origin} into ${dbFile}${kept}\n`);
              return 0;
            }
            if (!report.applied) {
              process.stdout.write(
                `not applied: ${report.origin} was restored before (marker beside ${dbFile}); ` +
                  'use --force to apply it again\n',
              );
              return 1;
            }
            const lines = [
              `restored ${report.origin}`,
              `into     ${dbFile}`,
              `size     ${formatSize(report.bytes)}, ${report.tables.length} tables, sha256 ${report.sha256}`,
              `took     ${formatDuration(report.durationMs)}`,
              ...(report.pitr
                ? [
                    `point    txid ${report.pitr.txid}, observed at ${iso(report.pitr.observedMs)}`,
                    `newest   txid ${report.pitr.newestTxid} (${iso(report.pitr.newestMs)}), the newest in the bucket`,
                  ]
                : []),
              report.movedAside.length
                ? `previous database kept at ${report.movedAside[0]}`
                : 'there was no previous database',
            ];
            process.stdout.write(`${lines.join('\n')}\n`);
            return 0;
          } finally {
            progress?.done();
            await lock.release();
          }
        });
      }),
    );
}
