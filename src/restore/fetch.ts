import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import { newestTrustworthy } from '../backup/retention.js';
import type { KeySet } from '../crypto/keys.js';
import { createDecryptStream } from '../crypto/stream.js';
import { ConfigError, LifeboatError } from '../errors.js';
import { fsyncFile } from '../fs/durable.js';
import type { BackupStore } from '../storage/store.js';
import { formatSource, type RestoreSource } from './source.js';
import type { StepHook } from './steps.js';

/** Where a backup is fetched from, and how: the remote store and key set for s3: sources. */
export interface FetchInputs {
  readonly remote?: BackupStore | undefined;
  /** Any key of the set, chosen by the header's key id. */
  readonly keys?: KeySet | undefined;
  /** Bytes written so far, and the expected total when known (the encrypted size for S3). */
  readonly onProgress?: ((bytes: number, total: number | undefined) => void) | undefined;
  readonly onStep?: StepHook;
  /** Warnings about backups `s3:latest` passes over; and the time it judges their names by. */
  readonly logger?: Logger | undefined;
  readonly now?: (() => Date) | undefined;
}

export interface Materialised {
  readonly path: string;
  readonly sha256: string;
  readonly bytes: number;
  /** The object or file it came from (s3:latest resolved). */
  readonly origin: string;
}

const SQLITE_MAGIC = 'SQLite format 3\u0000';

async function readHead(path: string, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** A file: source must be a complete, plain SQLite file: exists, regular, SQLite header, no pending WAL/journal. */
async function openFileSource(path: string): Promise<{ body: Readable; size: number }> {
  const info = await stat(path).catch(() => undefined);
  if (!info) {
    throw new LifeboatError('NOT_FOUND', `the backup file ${path} does not exist`, {
      hint: 'check the path after file: (it must be absolute); `lifeboat list` shows the local backups',
    });
  }
  if (!info.isFile()) {
    throw new LifeboatError('NOT_A_FILE', `${path} is not a regular file`, {
      hint:
        'file: must name a SQLite backup file, e.g. ' +
        'file:/var/lib/app/state_machine/backups/backup_node_1_1732415400.sqlite',
    });
  }
  if ((await readHead(path, 16)).toString('latin1') !== SQLITE_MAGIC) {
    throw new LifeboatError('NOT_SQLITE', `${path} is not an SQLite database (bad file header)`, {
      hint:
        'file: takes a plain SQLite backup; an encrypted S3 backup must ' +
        'be decrypted first (`lifeboat decrypt`) or restored with s3:',
    });
  }
  for (const suffix of ['-wal', '-journal']) {
    const side = await stat(path + suffix).catch(() => undefined);
    if (side && side.size > 0) {
      throw new LifeboatError(
        'SOURCE_INCOMPLETE',
        `${path} has a non-empty ${path}${suffix} beside it: part of its ` +
          `content is in that file, so the file alone is not a complete backup`,
        {
          hint:
            `if no program has it open, fold it in with \`sqlite3 ${path} 'PRAGMA wal_checkpoint(TRUNCATE)'\` ` +
            `and retry, or take a proper backup of it with \`lifeboat backup --db ${path}\``,
        },
      );
    }
  }
  return { body: createReadStream(path), size: info.size };
}

/** The object an s3: source names (s3:latest: the newest backup in the store). */
async function resolveObject(
  source: Exclude<RestoreSource, { kind: 'file' }>,
  remote: BackupStore,
  inputs: FetchInputs,
): Promise<{ name: string; size: number | undefined }> {
  if (source.kind === 's3') return { name: source.object, size: (await remote.stat(source.object))?.size };
  // Newest by the time in its name, passing over names a wrong clock made (src/backup/retention.ts).
  const {
    pick: newest,
    skipped,
    pickDistrusted,
  } = newestTrustworthy(await remote.list(), inputs.now?.() ?? new Date());
  for (const s of skipped) inputs.logger?.warn(`s3:latest passes over ${s.name}: ${s.reason}`);
  if (newest && pickDistrusted) inputs.logger?.warn(`s3:latest: ${newest.name} is the newest, but ${pickDistrusted}`);
  if (!newest) {
    throw new LifeboatError('NOT_FOUND', `there are no backups (backup_node_*.sqlite) in ${remote.description}`, {
      hint: 'check HQL_S3_BUCKET and the prefix; `lifeboat list --remote` shows what exists',
    });
  }
  return { name: newest.name, size: newest.size };
}

/**
 * Downloads and decrypts (s3:) or copies (file:) the backup into `target`, a new name
 * Lifeboat owns, hashing on the way; fsyncs it. On failure nothing is left behind.
 */
export async function materialise(source: RestoreSource, target: string, inputs: FetchInputs): Promise<Materialised> {
  let body: Readable;
  let decrypt: Transform | undefined;
  let origin: string;
  let total: number | undefined;
  if (source.kind === 'file') {
    ({ body, size: total } = await openFileSource(source.path));
    origin = source.path;
  } else {
    const { remote, keys } = inputs;
    if (!remote) {
      throw new ConfigError([
        `${formatSource(source)}: no S3 store is configured; set cluster.s3_url (HQL_S3_URL) and the other s3_* keys`,
      ]);
    }
    if (!keys) {
      throw new ConfigError([
        `${formatSource(source)}: S3 backups are encrypted, ` +
          `but no keys are configured; set ENC_KEYS and ENC_KEY_ACTIVE`,
      ]);
    }
    const object = await resolveObject(source, remote, inputs);
    origin = object.name;
    total = object.size;
    decrypt = createDecryptStream(keys);
    body = await remote.get(origin);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      if (bytes > 0) inputs.onStep?.('during-materialise');
      hash.update(chunk);
      bytes += chunk.length;
      inputs.onProgress?.(bytes, total);
      cb(null, chunk);
    },
  });
  try {
    // One pipeline from the source on: any failure (network, key, authentication, disk) destroys every stage.
    const out = createWriteStream(target, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 22 });
    await (decrypt ? pipeline(body, decrypt, tap, out) : pipeline(body, tap, out));
    await fsyncFile(target);
  } catch (err) {
    await rm(target, { force: true });
    throw err;
  }
  return { path: target, sha256: hash.digest('hex'), bytes, origin };
}
