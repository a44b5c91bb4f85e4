import type { Command } from 'commander';
import { ConfigError, EXIT_CHECK_FAILED } from '../../errors.js';
import { readDatabaseId } from '../../identity/identity.js';
import { databaseFinding, diagnosePitr, type Finding, problemOf } from '../../pitr/doctor.js';
import { isId, pitrDbId } from '../../pitr/names.js';
import { buildInfo } from '../../version.js';
import { type ConfigFlag, withConfigOption, withParts } from '../context.js';
import { withInterrupt } from '../interrupt.js';
import { action } from '../run.js';

interface DoctorFlags extends ConfigFlag {
  db?: string;
  dbId?: string;
  pitr?: boolean;
  json?: boolean;
}

/** `lifeboat doctor --json` (docs/json-output.md). */
export interface DoctorJson {
  readonly ok: boolean;
  readonly checks: readonly Finding[];
}

const HELP_AFTER = `
Without --pitr: the database, the keys and the S3 store (reached with the credentials).
With --pitr: whether continuous backup can run here — Lifeboat's SQLite (the WAL-reset bug),
the database in WAL mode, the keys, the store's conditional writes (the probe capture runs at
its start: it writes one object under lifeboat-pitr/.probe/ and deletes it) — and who ships the
database now (the head's lease). Reads the database's header only: no lock, nothing written.

Exit codes: 0 nothing failed (warnings allowed); 5 a check failed; 2 usage or configuration error.`;

/** `lifeboat doctor [--pitr]`: what an operator checks first when backups do not run. */
export function registerDoctor(program: Command): void {
  withConfigOption(program.command('doctor'))
    .description('check the setup: database, keys, S3; with --pitr, whether continuous backup can run here')
    .option('--db <path>', 'the database (default: the configured one)')
    .option('--pitr', 'check the requirements of continuous backup, and who ships the database now')
    .option('--db-id <id>', 'with --pitr: the database id in the bucket (default: from the database’s identity)')
    .option('--json', 'print JSON: {"ok": …, "checks": [{check, status, detail, hint?}]} (docs/json-output.md)')
    .addHelpText('after', HELP_AFTER)
    .action(
      action((flags: DoctorFlags) =>
        withParts(flags, async (parts) => {
          if (flags.dbId !== undefined && (!flags.pitr || !isId(flags.dbId))) {
            throw new ConfigError([`--db-id "${flags.dbId}" goes with --pitr and is 32 lower-case hex digits`]);
          }
          const checks = await withInterrupt(async (signal) => {
            if (flags.pitr) {
              const identity = flags.dbId ?? (await readDatabaseId(parts.dbFile).catch(() => undefined));
              return diagnosePitr({
                enabled: parts.config.pitr.enabled,
                mode: parts.mode,
                dbFile: parts.dbFile,
                sqliteVersion: buildInfo().sqlite,
                keys: parts.config.encryption,
                store: parts.pitrStore?.(),
                dbId: identity === undefined ? undefined : pitrDbId(identity),
                workDir: `${parts.dbFile}.lifeboat-pitr`,
                signal,
              });
            }
            const found: Finding[] = [await databaseFinding(parts.dbFile, { requireWal: false })];
            found.push(
              parts.config.encryption
                ? { check: 'keys', status: 'ok', detail: `active key ${parts.config.encryption.active.id}` }
                : {
                    check: 'keys',
                    status: 'warn',
                    detail: 'no encryption keys: backups are not encrypted (and S3 needs keys)',
                    hint: 'set ENC_KEYS and ENC_KEY_ACTIVE (`lifeboat keys generate` prints a key)',
                  },
            );
            if (!parts.remote) {
              found.push({ check: 's3', status: 'warn', detail: 'no S3 store: backups stay on this machine' });
            } else {
              try {
                await parts.checkRemote();
                found.push({ check: 's3', status: 'ok', detail: `${parts.remote.store.description} answers` });
              } catch (err) {
                found.push({ check: 's3', status: 'fail', ...problemOf(err) });
              }
            }
            return found;
          });
          const ok = checks.every((c) => c.status !== 'fail');
          if (flags.json) {
            const out: DoctorJson = { ok, checks };
            process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
          } else {
            for (const c of checks) {
              process.stdout.write(`${c.status.padEnd(5)} ${c.check.padEnd(19)} ${c.detail}\n`);
              if (c.hint) process.stdout.write(`${''.padEnd(26)}hint: ${c.hint}\n`);
            }
          }
          return ok ? 0 : EXIT_CHECK_FAILED;
        }),
      ),
    );
}
