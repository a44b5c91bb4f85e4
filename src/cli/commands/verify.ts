import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { materialise } from '../../restore/fetch.js';
import { parseRestoreSource } from '../../restore/source.js';
import { validateBackup } from '../../restore/validate.js';
import type { TableInfo } from '../../sqlite/protocol.js';
import { type ConfigFlag, formatBytes, formatDuration, withConfigOption, withParts } from '../context.js';
import { createProgress, type Progress } from '../progress.js';
import { action } from '../run.js';

interface VerifyFlags extends ConfigFlag {
  json?: boolean;
  tempDir?: string;
}

/**
 * `lifeboat verify <source>`: a restore drill. The backup is fetched (and decrypted) into a
 * temp folder, checked with integrity_check, its tables counted; nothing else is touched and
 * the temp folder is removed afterwards. Exit 0 when the backup is good, 1 when not.
 */
export function registerVerify(program: Command): void {
  withConfigOption(program.command('verify'))
    .description('restore drill: fetch a backup into a temp folder, run integrity_check, count rows; changes nothing')
    .argument('<source>', 's3:<object> | s3:latest | file:<absolute path>')
    .option('--json', 'print JSON')
    .option(
      '--temp-dir <dir>',
      'where the temporary copy goes (default: the system temp folder; it needs room for the whole database)',
    )
    .action(
      action(async (sourceText: string, flags: VerifyFlags) => {
        const started = performance.now();
        const source = parseRestoreSource(sourceText, 'source');
        return withParts(flags, async (parts) => {
          const { config } = parts;
          if (source.kind !== 'file') await parts.checkRemote();
          const dir = await mkdtemp(join(flags.tempDir ? resolve(flags.tempDir) : tmpdir(), 'lifeboat-verify-'));
          let progress: Progress | undefined;
          try {
            const got = await materialise(source, join(dir, 'backup.sqlite'), {
              remote: parts.remote?.store,
              keys: config.encryption,
              onProgress: (bytes, total) => {
                progress ??= createProgress({ label: 'verify', ...(total !== undefined ? { total } : {}) });
                progress.update(bytes);
              },
            });
            progress?.done();
            let result: { ok: boolean; problems: readonly string[]; tables: readonly TableInfo[] };
            try {
              result = await validateBackup(got.path, {
                skipValidation: false,
                expectTables: config.restore.expectTables,
                countRows: true,
              });
            } catch (err) {
              result = { ok: false, problems: [(err as Error).message], tables: [] };
            }
            const ms = performance.now() - started;
            if (flags.json) {
              const summary = {
                source: sourceText,
                origin: got.origin,
                ok: result.ok,
                problems: result.problems,
                tables: result.tables,
                bytes: got.bytes,
                sha256: got.sha256,
                ms,
              };
              process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
            } else {
              const lines = [
                `backup     ${got.origin}`,
                `integrity  ${result.ok ? 'ok' : `FAILED: ${result.problems.join('; ')}`}`,
                `size       ${formatBytes(got.bytes)}`,
                `sha256     ${got.sha256}`,
                `took       ${formatDuration(ms)}`,
              ];
              if (result.tables.length) {
                const width = Math.max(...result.tables.map((t) => t.name.length));
                lines.push('tables:', ...result.tables.map((t) => `  ${t.name.padEnd(width)}  ${t.rows ?? '?'} rows`));
              }
              process.stdout.write(`${lines.join('\n')}\n`);
            }
            return result.ok ? 0 : 1;
          } finally {
            progress?.done();
            await rm(dir, { recursive: true, force: true });
          }
        });
      }),
    );
}
