import type { Command } from 'commander';
import { sortBackupsNewestFirst } from '../../backup/naming.js';
import { ConfigError } from '../../errors.js';
import type { StoredObject } from '../../storage/store.js';
import { type ConfigFlag, formatAge, formatBytes, withConfigOption, withParts } from '../context.js';
import { action } from '../run.js';

interface ListFlags extends ConfigFlag {
  local?: boolean;
  remote?: boolean;
  json?: boolean;
}

interface Row {
  readonly where: 'local' | 'remote';
  readonly name: string;
  readonly nodeId: number;
  readonly time: string;
  readonly size: number;
  readonly ageSeconds: number;
}

/** `lifeboat list`: local and remote backups, newest first, with time, size and age. */
export function registerList(program: Command): void {
  withConfigOption(program.command('list'))
    .description('list backups (local folder and, when configured, S3), newest first')
    .option('--local', 'only the local backups folder')
    .option('--remote', 'only the remote (S3) store')
    .option('--json', 'print JSON')
    .action(
      action((flags: ListFlags) =>
        withParts(flags, async ({ config, local, remote }) => {
          const wantLocal = flags.local || !flags.remote;
          const wantRemote = flags.remote || !flags.local;
          if (flags.remote && !config.s3) {
            throw new ConfigError([
              '--remote: no remote store is configured; set cluster.s3_url (HQL_S3_URL) and the other s3_* keys',
            ]);
          }
          const now = new Date();
          const rows: Row[] = [];
          const collect = (where: Row['where'], objects: readonly StoredObject[]) => {
            for (const o of sortBackupsNewestFirst(objects)) {
              const time = new Date(o.id.unixSeconds * 1000);
              rows.push({
                where,
                name: o.name,
                nodeId: o.id.nodeId,
                time: time.toISOString(),
                size: o.size,
                ageSeconds: Math.floor((now.getTime() - time.getTime()) / 1000),
              });
            }
          };
          if (wantLocal) collect('local', await local.list());
          if (wantRemote && remote) collect('remote', await remote.store.list());
          if (flags.json) {
            process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
            return;
          }
          if (rows.length === 0) {
            const inDir = wantLocal ? ` in ${config.paths.backupsDir}` : '';
            const onS3 = wantRemote && config.s3 ? ' or on S3' : '';
            process.stdout.write(`no backups${inDir}${onS3}\n`);
            return;
          }
          const table = [
            ['WHERE', 'NAME', 'TIME (UTC)', 'SIZE', 'AGE'],
            ...rows.map((r) => [
              r.where,
              r.name,
              r.time.replace('.000Z', 'Z'),
              formatBytes(r.size),
              formatAge(new Date(r.time), now),
            ]),
          ];
          const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
          process.stdout.write(
            `${table
              .map((row) =>
                row
                  .map((cell, i) => cell.padEnd(widths[i]!))
                  .join('  ')
                  .trimEnd(),
              )
              .join('\n')}\n`,
          );
        }),
      ),
    );
}
