import type { Command } from 'commander';
import { sortBackupsNewestFirst } from '../../backup/naming.js';
import { decodeHeader } from '../../crypto/format.js';
import { ConfigError, describeError } from '../../errors.js';
import { formatSize } from '../../fs/space.js';
import type { BackupStore, StoredObject } from '../../storage/store.js';
import { type ConfigFlag, formatAge, withConfigOption, withParts } from '../context.js';
import { action } from '../run.js';

interface ListFlags extends ConfigFlag {
  local?: boolean;
  remote?: boolean;
  json?: boolean;
  /** true: `--keys`, false: `--no-keys`, undefined: read them for up to KEYS_AUTO_LIMIT objects. */
  keys?: boolean;
}

/** One backup; the schema is documented in docs/json-output.md. */
export interface ListRow {
  readonly where: 'local' | 'remote';
  readonly name: string;
  readonly nodeId: number;
  /** When the backup started (from its name), RFC 3339 UTC. */
  readonly takenAt: string;
  readonly ageSeconds: number;
  /** As stored: the encrypted size for a remote backup. */
  readonly bytes: number;
  /** Remote rows whose header was read: the id of the key that encrypted it. */
  keyId?: string;
  /** With keyId: whether that key is in the configured key set (else this backup cannot be restored here). */
  keyKnown?: boolean;
  /** Remote rows whose header could not be read or is not a cryptr header. */
  keyProblem?: string;
}

export interface ListOutput {
  /** Where Lifeboat looked; null when not asked (`--remote`) or not configured. */
  readonly local: { readonly path: string } | null;
  readonly remote: { readonly endpoint: string; readonly bucket: string; readonly prefix: string } | null;
  /** Whether the key ids of remote backups were read (one small request per object). */
  readonly keysRead: boolean;
  readonly backups: readonly ListRow[];
}

/** Up to this many remote objects, their key ids are read unless `--no-keys`. */
export const KEYS_AUTO_LIMIT = 50;
const KEY_READS_IN_FLIGHT = 8;
/** Header (at most 26 bytes) plus nonce (at most 12): the key id is in the first 38 bytes. */
const HEADER_PROBE_BYTES = 64;

/** The key id in a remote object's cryptr header, from one ranged GET of its first bytes. */
export async function readKeyId(store: BackupStore, name: string): Promise<string> {
  const body = await store.get(name, { start: 0, end: HEADER_PROBE_BYTES });
  const pieces: Buffer[] = [];
  try {
    for await (const piece of body) pieces.push(piece as Buffer);
  } finally {
    body.destroy();
  }
  const parsed = decodeHeader(Buffer.concat(pieces));
  if (!parsed) throw new Error(`${name} is shorter than a cryptr header: not an encrypted backup, or cut off`);
  return parsed.header.keyId;
}

/** Runs `work` over `items` with at most `limit` at a time, keeping the order of results. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** `lifeboat list`: local and remote backups, newest first, with time, size, age and key id. */
export function registerList(program: Command): void {
  withConfigOption(program.command('list'))
    .description('list backups (local folder and, when configured, S3), newest first')
    .option('--local', 'only the local backups folder')
    .option('--remote', 'only the remote (S3) store')
    .option('--json', 'print JSON (docs/json-output.md)')
    .option('--keys', `read the key id of every remote backup (default: only for up to ${KEYS_AUTO_LIMIT})`)
    .option('--no-keys', 'do not read key ids (saves one request per remote backup)')
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
          const rows: ListRow[] = [];
          const collect = (where: ListRow['where'], objects: readonly StoredObject[]) => {
            const sorted = sortBackupsNewestFirst(objects);
            for (const o of sorted) {
              const time = new Date(o.id.unixSeconds * 1000);
              rows.push({
                where,
                name: o.name,
                nodeId: o.id.nodeId,
                takenAt: time.toISOString(),
                ageSeconds: Math.floor((now.getTime() - time.getTime()) / 1000),
                bytes: o.size,
              });
            }
          };
          if (wantLocal) collect('local', await local.list());
          let keysRead = false;
          if (wantRemote && remote) {
            collect('remote', await remote.store.list());
            const remoteRows = rows.filter((r) => r.where === 'remote');
            keysRead = flags.keys ?? remoteRows.length <= KEYS_AUTO_LIMIT;
            if (keysRead) {
              const known = new Set(config.encryption?.ids ?? []);
              await mapLimited(remoteRows, KEY_READS_IN_FLIGHT, async (row) => {
                try {
                  row.keyId = await readKeyId(remote.store, row.name);
                  row.keyKnown = known.has(row.keyId);
                } catch (err) {
                  row.keyProblem = describeError(err).split('\n')[0]!;
                }
              });
            }
          }
          const s3 = config.s3;
          const output: ListOutput = {
            local: wantLocal ? { path: local.dir } : null,
            remote: wantRemote && s3 ? { endpoint: s3.url, bucket: s3.bucket, prefix: s3.prefix } : null,
            keysRead,
            backups: rows,
          };
          process.stdout.write(flags.json ? `${JSON.stringify(output, null, 2)}\n` : formatList(output, now));
        }),
      ),
    );
}

function keyCell(row: ListRow, keysRead: boolean): string {
  if (row.where === 'local') return '-'; // a local backup is a plain SQLite file
  if (row.keyId !== undefined) return row.keyKnown ? row.keyId : `${row.keyId} (not in key set)`;
  if (row.keyProblem !== undefined) return 'unreadable';
  return keysRead ? '?' : '';
}

/** The text form: where Lifeboat looked, then one row per backup. */
export function formatList(output: ListOutput, now: Date): string {
  const lines: string[] = [];
  if (output.local) lines.push(`# local:  ${output.local.path}`);
  if (output.remote) {
    const { endpoint, bucket, prefix } = output.remote;
    lines.push(`# remote: bucket "${bucket}"${prefix ? `, prefix "${prefix}"` : ''} at ${endpoint}`);
  }
  const remoteCount = output.backups.filter((r) => r.where === 'remote').length;
  if (output.backups.length === 0) return `${lines.join('\n')}${lines.length ? '\n' : ''}no backups\n`;
  const withKeys = output.backups.some((r) => r.where === 'remote');
  const table = [
    ['WHERE', 'NAME', 'TIME (UTC)', 'SIZE', 'AGE', ...(withKeys ? ['KEY'] : [])],
    ...output.backups.map((r) => [
      r.where,
      r.name,
      r.takenAt.replace('.000Z', 'Z'),
      formatSize(r.bytes),
      formatAge(new Date(r.takenAt), now),
      ...(withKeys ? [keyCell(r, output.keysRead)] : []),
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table)
    lines.push(
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
  for (const r of output.backups)
    if (r.keyProblem !== undefined) lines.push(`# ${r.name}: cannot read its key id: ${r.keyProblem}`);
  if (remoteCount > 0 && !output.keysRead)
    lines.push(`# key ids not read for ${remoteCount} remote backups (one request each); add --keys to read them`);
  return `${lines.join('\n')}\n`;
}
