import type { Command } from 'commander';
import { LifeboatError } from '../../errors.js';
import { idFileOf, type Marker, readDatabaseId, readMarker, writeDatabaseId } from '../../identity/identity.js';
import { type ConfigFlag, withConfigOption, withParts } from '../context.js';
import { action } from '../run.js';

interface IdentityFlags extends ConfigFlag {
  db?: string;
  adopt?: boolean;
  json?: boolean;
}

/**
 * `lifeboat identity [--adopt]`: which database this is and which database each store
 * belongs to (src/identity/identity.ts). `--adopt` gives the database the id its stores were
 * claimed for: after moving or restoring it without its id file.
 */
export function registerIdentity(program: Command): void {
  withConfigOption(program.command('identity'))
    .description("show which database this is and whose backups each store holds; --adopt takes the stores' id")
    .option('--db <path>', 'the database file (default: {data_dir}/state_machine/db/{filename_db})')
    .option('--adopt', 'write the id the backups folder (else the S3 prefix) was claimed for beside the database')
    .option('--json', 'print JSON')
    .action(
      action((flags: IdentityFlags) =>
        withParts(flags, async (parts) => {
          const local = await readMarker(parts.local);
          const remote = parts.remote ? await readMarker(parts.remote.store) : undefined;
          let id = await readDatabaseId(parts.dbFile);
          if (flags.adopt) {
            const claimed = local ?? remote;
            if (!claimed) {
              throw new LifeboatError('NOT_FOUND', 'no store is claimed by a database yet: there is no id to adopt', {
                hint: 'the next backup gives the database an id and claims its stores for it',
              });
            }
            if (local && remote && local.id !== remote.id) {
              throw new LifeboatError(
                'WRONG_DATABASE',
                `the backups folder and the S3 prefix belong to different databases (${local.id}, ${remote.id})`,
                { hint: 'point data_dir or HQL_S3_PREFIX at the stores of this database, then adopt again' },
              );
            }
            if (id !== claimed.id) await writeDatabaseId(parts.dbFile, claimed.id);
            id = claimed.id;
          }
          const show = (m: Marker | undefined) =>
            m ? `${m.id} (${m.path} on ${m.host}, since ${m.claimedAt})` : 'none';
          if (flags.json) {
            const out = { database: parts.dbFile, id: id ?? null, local: local ?? null, remote: remote ?? null };
            process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
          } else {
            const lines = [
              `database  ${parts.dbFile}`,
              `id        ${id ?? `none (${idFileOf(parts.dbFile)} does not exist yet)`}`,
              `local     ${show(local)}  ${parts.local.description}`,
              ...(parts.remote ? [`remote    ${show(remote)}  ${parts.remote.store.description}`] : []),
            ];
            process.stdout.write(`${lines.join('\n')}\n`);
          }
          const mismatch = [local, remote].some((m) => m && id && m.id !== id);
          return mismatch ? 1 : 0;
        }),
      ),
    );
}
