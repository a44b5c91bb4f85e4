import { basename } from 'node:path';
import { type Command, Option } from 'commander';
import { type BackupReport, type BackupStage, RemotePushError, runBackup } from '../../backup/job.js';
import { LifeboatError } from '../../errors.js';
import { formatSize } from '../../fs/space.js';
import { Heartbeat } from '../../server/heartbeat.js';
import { packageVersion } from '../../version.js';
import { type ConfigFlag, formatDuration, withConfigOption, withParts } from '../context.js';
import { withInterrupt } from '../interrupt.js';
import { createProgress } from '../progress.js';
import { action } from '../run.js';

interface BackupFlags extends ConfigFlag {
  db?: string;
  json?: boolean;
}

/**
 * `lifeboat backup`: one backup now (snapshot, verify, push when S3 is configured, retention).
 * S3 is not asked before: the local backup is taken whatever S3 does, and when only its push
 * fails the command exits with 3 (EXIT_PUSH_FAILED), the local backup kept. SIGINT/SIGTERM
 * stop the run cleanly: the push's multipart upload is aborted and, before the local commit,
 * the temp file removed; a second signal exits at once.
 */
export function registerBackup(program: Command): void {
  withConfigOption(program.command('backup'))
    .description('take one backup now; pushes it encrypted to S3 when S3 is configured')
    .option('--db <path>', 'database file to back up (default: {data_dir}/state_machine/db/{filename_db})')
    // Every backup now passes integrity_check (and the expected tables); kept so scripts still run.
    .addOption(new Option('--full-check').hideHelp())
    .option('--json', 'print the result as JSON')
    .action(
      action((flags: BackupFlags) =>
        withParts(flags, async (parts) => {
          // One line per stage: "snapshot" (bytes copied), "checking" (no byte count), then
          // "upload" (encrypted bytes), which starts while the check still runs.
          let progress: { stage: BackupStage; line: ReturnType<typeof createProgress> } | undefined;
          const labels: Record<BackupStage, string> = { copy: 'snapshot', check: 'checking', upload: 'upload' };
          const onProgress = (stage: BackupStage, bytes: number, total: number | undefined) => {
            if (progress?.stage === 'upload' && stage !== 'upload') return;
            if (progress?.stage !== stage) {
              progress?.line.done();
              const size = total !== undefined ? { total } : {};
              progress = { stage, line: createProgress({ label: labels[stage], bytes: stage !== 'check', ...size }) };
            }
            progress.line.update(bytes);
          };
          let report: BackupReport;
          try {
            report = await withInterrupt(
              (signal) => runBackup(parts.backupPlan({ onProgress, signal })),
              'the backup (aborting its upload)',
            );
          } catch (err) {
            progress?.line.done();
            // The local backup exists: say where, then fail with the push's error (exit 3).
            if (err instanceof RemotePushError) {
              const kept = err.report;
              if (flags.json) {
                const cause = err.cause instanceof LifeboatError ? err.cause : undefined;
                const failure = { code: cause?.code ?? err.code, message: err.message };
                process.stdout.write(`${JSON.stringify({ ...kept, pushFailure: failure }, null, 2)}\n`);
              } else
                process.stdout.write(
                  `backup   ${kept.name}\npath     ${kept.path}\nsize     ${formatSize(kept.bytes)}\n` +
                    'remote   not pushed (see below); the local backup is kept\n',
                );
            }
            throw err;
          }
          progress?.line.done();
          // Only after a full success (a failed push threw above): a dead-man service then alerts.
          const beat = parts.config.heartbeat;
          if (beat) {
            await new Heartbeat({ ...beat, logger: parts.logger, clock: parts.clock, version: packageVersion() }).beat({
              ...report,
              database: basename(parts.dbFile),
              nodeId: parts.config.nodeId,
              pushed: report.remote !== undefined,
            });
          }
          if (flags.json) {
            process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
            return;
          }
          const lines = [
            `backup   ${report.name}`,
            `path     ${report.path}`,
            `size     ${formatSize(report.bytes)}`,
            `duration ${formatDuration(report.durationMs)} (snapshot ${formatDuration(report.snapshotMs)})`,
          ];
          if (report.remote) {
            const where = parts.remote?.store.description ?? 'remote';
            lines.push(`remote   ${report.remote.object} on ${where} (${formatDuration(report.remote.durationMs)})`);
          }
          if (report.expiredLocal.length) {
            lines.push(`expired  ${report.expiredLocal.length} local: ${report.expiredLocal.join(', ')}`);
          }
          if (report.remote?.expired.length) {
            lines.push(`expired  ${report.remote.expired.length} remote: ${report.remote.expired.join(', ')}`);
          }
          for (const w of report.warnings) lines.push(`warning  ${w}`);
          process.stdout.write(`${lines.join('\n')}\n`);
        }),
      ),
    );
}
