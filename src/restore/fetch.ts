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
import { DB_ID_METADATA, readDatabaseId, storeOwner } from '../identity/identity.js';
import { readStateFile } from '../pitr/capture/state-file.js';
import { PITR_ROOT, parsePitrName, pitrDbId } from '../pitr/names.js';
import { applyPlan } from '../pitr/restore/apply.js';
import { bucketBehind } from '../pitr/restore/behind.js';
import { lineageFor } from '../pitr/restore/lineage.js';
import { type RestorePlan as PitrPlan, planRestore } from '../pitr/restore/plan.js';
import { hasSqliteMagic, readFileHead } from '../sqlite/file-header.js';
import type { LocalStore } from '../storage/local.js';
import type { PitrObjectStore } from '../storage/object-store.js';
import type { BackupStore, StoredObject } from '../storage/store.js';
import { fetchParallel } from './parallel-fetch.js';
import { formatSource, type RestoreSource } from './source.js';
import type { StepHook } from './steps.js';

/** Where backups are: the local backups folder, and the remote store with the key set for s3: sources. */
export interface FetchInputs {
  readonly local?: LocalStore | undefined;
  readonly remote?: BackupStore | undefined;
  /** Any key of the set, chosen by the header's key id. */
  readonly keys?: KeySet | undefined;
  /** Bytes written so far, and the expected total when known (the encrypted size for S3). */
  readonly onProgress?: ((bytes: number, total: number | undefined) => void) | undefined;
  readonly onStep?: StepHook;
  /** Stops the download; the partial copy is removed. */
  readonly signal?: AbortSignal | undefined;
  /** Warnings about backups `s3:latest` passes over; and the time it judges their names by. */
  readonly logger?: Logger | undefined;
  readonly now?: (() => Date) | undefined;
  /** The database restored into (or verified for): `latest` picks only backups of it (identity.ts). */
  readonly dbFile?: string | undefined;
  /** The bucket of continuous backup, for pitr: sources (the same S3 place, PITR objects under lifeboat-pitr/). */
  readonly pitr?: (() => PitrObjectStore) | undefined;
  /** pitr: sources: restore what the bucket holds even where this host's capture shipped more (PITR_BUCKET_BEHIND). */
  readonly acceptOlder?: boolean | undefined;
}

/** A source resolved to one backup: a plain file, or an encrypted object of the remote store. */
export type ResolvedSource =
  | { readonly kind: 'file'; readonly path: string; readonly size: number }
  | { readonly kind: 'object'; readonly name: string; readonly size: number | undefined }
  | { readonly kind: 'pitr'; readonly plan: PitrPlan; readonly store: PitrObjectStore };

export interface Materialised {
  readonly path: string;
  /**
   * Hex SHA-256 of the bytes as materialised. For a parallel download it is computed when
   * asked, by reading the file back: ask while the copy is checked (see sha256Later).
   */
  sha256(): Promise<string>;
  readonly bytes: number;
  /** The object or file it came from (s3:latest and local: resolved); pitr:<dbId>/<genId>/<txid> for a point. */
  readonly origin: string;
  /** For continuous backup: the point restored, and the newest the bucket holds. */
  readonly pitr?: PitrPoint;
}

export interface PitrPoint {
  readonly txid: number;
  readonly observedMs: number;
  readonly newestTxid: number;
  readonly newestMs: number;
}

/** The object name or file path a resolved source reads from. */
export const originOf = (r: ResolvedSource): string =>
  r.kind === 'file' ? r.path : r.kind === 'object' ? r.name : pitrOrigin(r.plan, r.plan.target);

/** What a continuous-backup restore restored: the marker's origin, so a start-up restore is applied once. */
function pitrOrigin(plan: PitrPlan, point: PitrPlan['target'] | number): string {
  const at =
    typeof point === 'number'
      ? point
      : point.kind === 'txid'
        ? point.txid
        : point.kind === 'latest'
          ? 'latest'
          : `time-${point.ms}`;
  return `pitr:${plan.dbId}/${plan.genId}/${at}`;
}

function noBackups(where: string, hint: string): LifeboatError {
  return new LifeboatError('NO_BACKUPS', `there are no backups (backup_node_*.sqlite) in ${where}`, { hint });
}

/**
 * Finds the one backup a source means, before anything is downloaded: `s3:latest` and
 * `local:latest` become the newest backup by the time in its name, `local:<name>` a file in
 * the backups folder. NO_BACKUPS when a `latest` form finds none; NOT_FOUND for a name or
 * file that does not exist.
 */
export async function resolveSource(source: RestoreSource, inputs: FetchInputs): Promise<ResolvedSource> {
  switch (source.kind) {
    case 'file':
      return { kind: 'file', path: source.path, size: await checkFileSource(source.path) };
    case 'local':
    case 'local-latest': {
      const local = inputs.local;
      if (!local) throw new ConfigError([`${formatSource(source)}: there is no local backups folder here`]);
      let name: string;
      if (source.kind === 'local') name = source.name;
      else {
        const newest = pickLatest('local:latest', await local.list(), inputs);
        if (!newest) throw noBackups(local.description, 'check HQL_DATA_DIR; `lifeboat list` shows what exists');
        name = newest.name;
      }
      if (!(await local.stat(name))) {
        throw new LifeboatError('NOT_FOUND', `no backup "${name}" in ${local.description}`, {
          hint: 'run `lifeboat list --local` to see the backups that exist',
        });
      }
      const path = local.pathOf(name);
      return { kind: 'file', path, size: await checkFileSource(path) };
    }
    case 's3':
    case 's3-latest': {
      const { remote, keys } = inputs;
      if (!remote) {
        throw new ConfigError([
          `${formatSource(source)}: no S3 store is configured; set cluster.s3_url (HQL_S3_URL) and the other s3_* keys`,
        ]);
      }
      if (!keys) {
        throw new ConfigError([
          `${formatSource(source)}: S3 backups are encrypted, but no keys are configured; ` +
            'set ENC_KEYS and ENC_KEY_ACTIVE',
        ]);
      }
      if (source.kind === 's3')
        return { kind: 'object', name: source.object, size: (await remote.stat(source.object))?.size };
      const newest = await pickOwnLatest(remote, inputs);
      if (!newest) {
        throw noBackups(
          remote.description,
          'check HQL_S3_BUCKET and the prefix; `lifeboat list --remote` shows what exists',
        );
      }
      return { kind: 'object', name: newest.name, size: newest.size };
    }
    case 'pitr': {
      if (!inputs.pitr) {
        throw new ConfigError([
          `${formatSource(source)}: continuous backup lives in S3, and no S3 store is configured; ` +
            'set cluster.s3_url (HQL_S3_URL) and the other s3_* keys',
        ]);
      }
      if (!inputs.keys) {
        throw new ConfigError([
          `${formatSource(source)}: continuous backups are encrypted, but no keys are configured; ` +
            'set ENC_KEYS and ENC_KEY_ACTIVE',
        ]);
      }
      const store = inputs.pitr();
      const dbId = source.dbId ?? (await pitrDatabase(store, inputs));
      const listing = await store.list(`${PITR_ROOT}${dbId}/`, { signal: inputs.signal });
      // A txid is restored exactly or refused; `latest` and a time would quietly stop where the bucket does.
      if (inputs.dbFile && !inputs.acceptOlder && source.target.kind !== 'txid') {
        const saved = (await readStateFile(`${inputs.dbFile}.lifeboat-pitr`)).chain;
        const behind = bucketBehind(dbId, listing, saved);
        if (behind) {
          throw new LifeboatError('PITR_BUCKET_BEHIND', `${formatSource(source)}: ${behind}`, {
            hint:
              'segments were deleted or the bucket rolled back (see its versioning); to restore what it holds ' +
              'anyway, add --accept-older (`lifeboat restore --pitr …`, `lifeboat verify pitr:…`) ' +
              'or use a txid:N it holds',
          });
        }
      }
      // A time is a moment of the current line of restores (pitr/restore/lineage.ts): the metas tell it;
      // with a timeline named, `latest` too is that line's.
      const line = await lineageFor(store, inputs.keys, dbId, listing, source.target, {
        log: inputs.logger,
        signal: inputs.signal,
        timeline: source.timeline,
      });
      return { kind: 'pitr', plan: planRestore(dbId, listing, source.target, line), store };
    }
  }
}

/** The database a point-in-time restore (or `lifeboat pitr status`) means without --db-id. */
export async function pitrDatabase(
  store: PitrObjectStore,
  inputs: Pick<FetchInputs, 'dbFile' | 'remote' | 'signal'>,
): Promise<string> {
  return (await ownDatabase(store, inputs)) ?? (await onlyDatabase(store, inputs.signal));
}

/**
 * This database's continuous backup: the id of its identity file, else of the snapshots'
 * store marker (a new machine), when the bucket holds objects under it; else undefined.
 */
async function ownDatabase(
  store: PitrObjectStore,
  inputs: Pick<FetchInputs, 'dbFile' | 'remote' | 'signal'>,
): Promise<string | undefined> {
  const identity =
    (inputs.dbFile && (await readDatabaseId(inputs.dbFile))) ||
    (inputs.remote && (await storeOwner(inputs.remote).catch(() => undefined)));
  if (!identity) return undefined;
  const dbId = pitrDbId(identity);
  const some = await store.list(`${PITR_ROOT}${dbId}/g/`, { signal: inputs.signal });
  return some.length > 0 ? dbId : undefined;
}

/**
 * The database of the only continuous backup in the bucket. Local state (which would name it)
 * is kept by the capture side; until a restore can read it, another database's backup in the
 * same place makes the operator name one (--db-id).
 */
async function onlyDatabase(store: PitrObjectStore, signal?: AbortSignal): Promise<string> {
  const ids = new Set<string>();
  for (const { key } of await store.list(PITR_ROOT, { signal })) {
    const name = parsePitrName(key);
    if (name && 'dbId' in name) ids.add(name.dbId);
  }
  if (ids.size === 1) return [...ids][0]!;
  if (ids.size === 0) {
    throw new LifeboatError('NO_BACKUPS', `there is no continuous backup (${PITR_ROOT}…) in ${store.description}`, {
      hint: 'check HQL_S3_BUCKET and the prefix, and that continuous backup ran for this database',
    });
  }
  throw new ConfigError([
    `${store.description} holds continuous backups of ${ids.size} databases (${[...ids].join(', ')}): ` +
      'name the one to restore with --db-id',
  ]);
}

/**
 * `s3:latest` of this database: the newest backup by its name that is not another database's
 * (objects carry their database's id; those without one — Hiqlite's, older Lifeboat's — count
 * as this one's). This database is the one of its id file, else the one the store belongs to.
 */
async function pickOwnLatest(remote: BackupStore, inputs: FetchInputs): Promise<StoredObject | undefined> {
  const ours = (inputs.dbFile && (await readDatabaseId(inputs.dbFile))) || (await storeOwner(remote));
  let candidates = await remote.list();
  for (;;) {
    const pick = pickLatest('s3:latest', candidates, inputs);
    if (!pick || !ours) return pick;
    const theirs = (await remote.stat(pick.name))?.metadata?.[DB_ID_METADATA];
    if (!theirs || theirs === ours) return pick;
    inputs.logger?.warn(`s3:latest passes over ${pick.name}: a backup of another database (id ${theirs}, not ${ours})`);
    candidates = candidates.filter((o) => o.name !== pick.name);
  }
}

/** The newest backup by the time in its name, passing over names a wrong clock made (src/backup/retention.ts). */
function pickLatest<T extends StoredObject>(what: string, objects: readonly T[], inputs: FetchInputs): T | undefined {
  const { pick, skipped, pickDistrusted } = newestTrustworthy(objects, inputs.now?.() ?? new Date());
  for (const s of skipped) inputs.logger?.warn(`${what} passes over ${s.name}: ${s.reason}`);
  if (pick && pickDistrusted) inputs.logger?.warn(`${what}: ${pick.name} is the newest, but ${pickDistrusted}`);
  return pick;
}

/**
 * A file source must be a complete, plain SQLite file: it exists, is regular, has the SQLite
 * header, and has no pending WAL or journal beside it. Returns its size.
 */
async function checkFileSource(path: string): Promise<number> {
  const info = await stat(path).catch(() => undefined);
  if (!info) {
    throw new LifeboatError('NOT_FOUND', `the backup file ${path} does not exist`, {
      hint: 'check the path after file:; `lifeboat list` shows the local backups',
    });
  }
  if (!info.isFile()) {
    throw new LifeboatError('NOT_A_FILE', `${path} is not a regular file`, {
      hint:
        'file: must name a SQLite backup file, ' +
        'e.g. file:/var/lib/app/state_machine/backups/backup_node_1_1732415400.sqlite',
    });
  }
  if (!hasSqliteMagic(await readFileHead(path, 16))) {
    throw new LifeboatError('NOT_SQLITE', `${path} is not an SQLite database (bad file header)`, {
      hint:
        'file: takes a plain SQLite backup; an encrypted S3 backup must be decrypted first ' +
        '(`lifeboat decrypt`) or restored with s3:',
    });
  }
  for (const suffix of ['-wal', '-journal']) {
    const side = await stat(path + suffix).catch(() => undefined);
    if (side && side.size > 0) {
      throw new LifeboatError(
        'SOURCE_INCOMPLETE',
        `${path} has a non-empty ${path}${suffix} beside it: ` +
          'part of its content is in that file, so the file alone is not a complete backup',
        {
          hint:
            `if no program has it open, fold it in with \`sqlite3 ${path} 'PRAGMA wal_checkpoint(TRUNCATE)'\` ` +
            `and retry, or take a proper backup of it with \`lifeboat backup --db ${path}\``,
        },
      );
    }
  }
  return info.size;
}

/**
 * Downloads and decrypts (an object) or copies (a file) the backup into `target`, a new name
 * Lifeboat owns. On failure nothing is left behind. The copy is not synced to disk here: a
 * restore syncs it while it is checked (the check reads it from the page cache), a drill
 * never needs it on disk.
 */
export async function materialise(
  resolved: ResolvedSource,
  target: string,
  inputs: FetchInputs,
): Promise<Materialised> {
  if (resolved.kind === 'pitr') return materialisePitr(resolved, target, inputs);
  if (resolved.kind === 'object' && resolved.size !== undefined && inputs.remote && inputs.keys) {
    // Parallel ranges, each chunk written at its offset (parallel-fetch.ts).
    try {
      const got = await fetchParallel({
        store: inputs.remote,
        name: resolved.name,
        size: resolved.size,
        keys: inputs.keys,
        target,
        signal: inputs.signal,
        onProgress: inputs.onProgress,
        onWritten: () => inputs.onStep?.('during-materialise'),
      });
      return { path: target, sha256: await sha256Later(target, got.bytes), bytes: got.bytes, origin: resolved.name };
    } catch (err) {
      await rm(target, { force: true });
      throw fetchError(err, target, resolved.name, inputs.signal);
    }
  }
  let body: Readable;
  let decrypt: Transform | undefined;
  if (resolved.kind === 'file') {
    body = createReadStream(resolved.path);
  } else {
    if (!inputs.remote || !inputs.keys) throw new Error('materialise: an object needs the remote store and the keys');
    decrypt = createDecryptStream(inputs.keys);
    body = await inputs.remote.get(resolved.name, undefined, { signal: inputs.signal });
  }
  const total = resolved.size;
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
  const options = inputs.signal ? { signal: inputs.signal } : {};
  try {
    // One pipeline from the source on: any failure (network, key, authentication, disk) destroys every stage.
    const out = createWriteStream(target, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 22 });
    await (decrypt ? pipeline(body, decrypt, tap, out, options) : pipeline(body, tap, out, options));
  } catch (err) {
    body.destroy();
    await rm(target, { force: true });
    throw fetchError(err, target, originOf(resolved), inputs.signal);
  }
  const sha256 = hash.digest('hex');
  return { path: target, sha256: () => Promise.resolve(sha256), bytes, origin: originOf(resolved) };
}

/**
 * The largest SQLite page size: page 1, the only page the check writes (it switches the copy to
 * rollback-journal mode, which rewrites header fields), lies within this many bytes.
 */
const HEAD_BYTES = 65_536;

/**
 * The SHA-256 of the `bytes` bytes of `path`, computed when called. A restore is CPU-bound during
 * its parallel download, while its integrity_check runs on one core and leaves the other idle:
 * hashing beside the check costs no time. The check rewrites page 1, so the first bytes are
 * read now, before it starts, and the rest when called. A file that ends early (changed under
 * us) fails rather than give a wrong digest.
 */
async function sha256Later(path: string, bytes: number): Promise<() => Promise<string>> {
  const head = Buffer.allocUnsafe(Math.min(bytes, HEAD_BYTES));
  await readExactly(path, head, 0);
  let digest: Promise<string> | undefined;
  return () => {
    digest ??= (async () => {
      const hash = createHash('sha256').update(head);
      const buf = Buffer.allocUnsafe(Math.min(Math.max(bytes - head.length, 0), 1 << 20));
      const fh = await open(path, 'r');
      try {
        for (let at = head.length; at < bytes; ) {
          const want = Math.min(buf.length, bytes - at);
          const { bytesRead } = await fh.read(buf, 0, want, at);
          if (bytesRead === 0) throw new Error(`${path} ended at ${at} bytes while its sha256 was computed (${bytes})`);
          hash.update(buf.subarray(0, bytesRead));
          at += bytesRead;
        }
      } finally {
        await fh.close();
      }
      return hash.digest('hex');
    })();
    return digest;
  };
}

async function readExactly(path: string, buf: Buffer, position: number): Promise<void> {
  const fh = await open(path, 'r');
  try {
    for (let got = 0; got < buf.length; ) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
      if (bytesRead === 0) throw new Error(`${path} is shorter than ${position + buf.length} bytes`);
      got += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

/** A continuous-backup restore into `target` (never a partial file there), then its hash. */
async function materialisePitr(
  resolved: Extract<ResolvedSource, { kind: 'pitr' }>,
  target: string,
  inputs: FetchInputs,
): Promise<Materialised> {
  const { plan, store } = resolved;
  const origin = originOf(resolved);
  let point: PitrPoint;
  try {
    point = await applyPlan(plan, {
      store,
      keys: inputs.keys!,
      dbId: plan.dbId,
      target: plan.target,
      path: target,
      signal: inputs.signal,
      log: inputs.logger,
      onProgress: (bytes, total) => {
        if (bytes > 0) inputs.onStep?.('during-materialise');
        inputs.onProgress?.(bytes, total);
      },
    });
  } catch (err) {
    throw fetchError(err, target, origin, inputs.signal);
  }
  const { size: bytes } = await stat(target);
  const pitr = {
    txid: point.txid,
    observedMs: point.observedMs,
    newestTxid: point.newestTxid,
    newestMs: point.newestMs,
  };
  return {
    path: target,
    sha256: await sha256Later(target, bytes),
    bytes,
    origin: pitrOrigin(plan, point.txid),
    pitr,
  };
}

/** A full disk or an interruption named for the operator; other errors as they are. */
function fetchError(err: unknown, target: string, origin: string, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) {
    return new LifeboatError(
      'ABORTED',
      `the restore of ${origin} was interrupted while fetching it; nothing was changed`,
      {
        cause: signal.reason,
      },
    );
  }
  const code = (err as { code?: unknown })?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new LifeboatError('NO_SPACE', `no space left for the copy of ${origin} at ${target}; nothing was changed`, {
      hint: 'free space on that file system (the backup needs about its own size there), then restore again',
      cause: err,
    });
  }
  return err;
}
