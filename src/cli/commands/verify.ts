import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../errors.js';
import { formatSize } from '../../fs/space.js';
import { isId } from '../../pitr/names.js';
import { drillWarnings, openDrillFolder, previousBackup } from '../../restore/drill.js';
import { materialise, resolveSource } from '../../restore/fetch.js';
import { onTimeline, parseRestoreSource, type RestoreSource } from '../../restore/source.js';
import { validateBackup } from '../../restore/validate.js';
import type { TableInfo } from '../../sqlite/protocol.js';
import { type ConfigFlag, formatDuration, withConfigOption, withParts } from '../context.js';
import { withInterrupt } from '../interrupt.js';
import { createProgress, type Progress } from '../progress.js';
import { action } from '../run.js';

export interface VerifyFlags extends ConfigFlag {
  db?: string;
  json?: boolean;
  tempDir?: string;
  strict?: boolean;
  dbId?: string;
  acceptOlder?: boolean;
  timeline?: string;
}

/** The drill refuses a bucket behind what this host shipped, as the restore does: an alert worth having. */
export const ACCEPT_OLDER_HELP =
  "with a pitr: source: drill what the bucket holds even where this host's capture shipped more (PITR_BUCKET_BEHIND)";

/** The source argument, with --db-id for a continuous-backup point (the bucket may hold several databases). */
function sourceOf(text: string, flags: VerifyFlags): RestoreSource {
  const source = parseRestoreSource(text, { name: 'source', cwd: process.cwd() });
  if (flags.acceptOlder && source.kind !== 'pitr') {
    throw new ConfigError([`--accept-older goes with a pitr: source, not ${text}`]);
  }
  if (flags.timeline !== undefined) {
    if (source.kind !== 'pitr') throw new ConfigError([`--timeline goes with a pitr: source, not ${text}`]);
    const on = onTimeline(source, flags.timeline);
    if (typeof on === 'string') throw new ConfigError([`${text} --timeline ${flags.timeline}: ${on}`]);
    return withDbId(on, text, flags);
  }
  return withDbId(source, text, flags);
}

function withDbId(source: RestoreSource, text: string, flags: VerifyFlags): RestoreSource {
  if (flags.dbId === undefined) return source;
  if (source.kind !== 'pitr') throw new ConfigError([`--db-id goes with a pitr: source, not ${text}`]);
  if (!isId(flags.dbId)) throw new ConfigError([`--db-id "${flags.dbId}" is not 32 lower-case hex digits`]);
  return { ...source, dbId: flags.dbId };
}

/** `--timeline` of verify and `pitr verify`. */
export const TIMELINE_HELP =
  'with pitr:latest|pitr:time:…: on timeline K, a branch an earlier restore left (`lifeboat pitr list` shows them)';

/**
 * `lifeboat verify <source>`: a restore drill. The backup is fetched (and decrypted) into a
 * temp folder, checked with integrity_check, its tables counted; nothing else is touched and
 * the temp folder is removed afterwards, also on Ctrl-C (and by the next drill when one was
 * killed). Exit 0 when the backup is good, 1 when not (or, with --strict, when it looks
 * suspicious), 4 when there is no backup.
 */
export function registerVerify(program: Command): void {
  withConfigOption(program.command('verify'))
    .description('restore drill: fetch a backup into a temp folder, run integrity_check, count rows; changes nothing')
    .argument(
      '<source>',
      's3:<object> | s3:latest | local:<name> | local:latest | <name> | file:<path> | pitr:latest | pitr:txid:<N> | ' +
        'pitr:time:<RFC 3339 time>',
    )
    .option('--db-id <id>', 'with a pitr: source: the database (when the bucket holds several; `lifeboat pitr list`)')
    .option('--accept-older', ACCEPT_OLDER_HELP)
    .option('--timeline <K>', TIMELINE_HELP)
    .option(
      '--db <path>',
      'the database whose backups `latest` means (default: {data_dir}/state_machine/db/{filename_db})',
    )
    .option('--json', 'print JSON')
    .option('--strict', 'fail (exit 1) on a warning too: a backup with no tables, or much smaller than the one before')
    .option(
      '--temp-dir <dir>',
      'where the temporary copy goes (default: the system temp folder; it needs room for the whole database)',
    )
    .action(action((sourceText: string, flags: VerifyFlags) => runVerify(sourceText, flags)));
}

/** The drill of `verify` (also `pitr verify`): its exit code. */
export async function runVerify(sourceText: string, flags: VerifyFlags): Promise<number> {
  const started = performance.now();
  const source = sourceOf(sourceText, flags);
  return withParts(flags, (parts) =>
    withInterrupt(async (signal) => {
      const { config } = parts;
      const inputs = {
        local: parts.local,
        remote: parts.remote?.store,
        keys: config.encryption,
        pitr: parts.pitrStore,
        logger: parts.logger,
        now: () => parts.clock.now(),
        dbFile: parts.dbFile,
        acceptOlder: flags.acceptOlder,
        signal,
      };
      const resolved = await resolveSource(source, inputs);
      const folder = await openDrillFolder(flags.tempDir ? resolve(flags.tempDir) : tmpdir());
      let progress: Progress | undefined;
      try {
        const got = await materialise(resolved, join(folder.path, 'backup.sqlite'), {
          ...inputs,
          onProgress: (bytes, total) => {
            progress ??= createProgress({ label: 'verify', ...(total !== undefined ? { total } : {}) });
            progress.update(bytes);
          },
        });
        progress?.done();
        // Hashed while it is checked: the check leaves a core free.
        const digest = got.sha256();
        digest.catch(() => undefined); // awaited below, after the check
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
        const sha256 = await digest;
        // A continuous-backup point has no "previous backup" to compare its size with.
        const store =
          resolved.kind === 'object' ? parts.remote?.store : resolved.kind === 'file' ? parts.local : undefined;
        const name = resolved.kind === 'object' ? resolved.name : basename(got.origin);
        const previous = store && (await previousBackup(store, name).catch(() => undefined));
        const size = (resolved.kind === 'pitr' ? undefined : resolved.size) ?? got.bytes;
        const warnings = result.ok ? drillWarnings({ name, tables: result.tables.length, size }, previous) : [];
        const ms = performance.now() - started;
        if (flags.json) {
          const summary = {
            source: sourceText,
            origin: got.origin,
            ok: result.ok,
            problems: result.problems,
            warnings,
            tables: result.tables,
            bytes: got.bytes,
            sha256,
            ms,
          };
          process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        } else {
          const lines = [
            `backup     ${got.origin}`,
            `integrity  ${result.ok ? 'ok' : `FAILED: ${result.problems.join('; ')}`}`,
            `size       ${formatSize(got.bytes)}`,
            `sha256     ${sha256}`,
            `took       ${formatDuration(ms)}`,
            ...warnings.map((w) => `warning    ${w}`),
          ];
          if (result.tables.length) {
            const width = Math.max(...result.tables.map((t) => t.name.length));
            const rows = result.tables.map((t) => `  ${t.name.padEnd(width)}  ${t.rows ?? '?'} rows`);
            lines.push('tables:', ...rows);
          }
          process.stdout.write(`${lines.join('\n')}\n`);
        }
        return result.ok && !(flags.strict && warnings.length > 0) ? 0 : 1;
      } finally {
        progress?.done();
        await folder.remove();
      }
    }),
  );
}
