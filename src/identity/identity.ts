import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { buffer } from 'node:stream/consumers';
import { LifeboatError } from '../errors.js';
import { writeFileAtomic } from '../fs/durable.js';
import { readTextIfExists } from '../fs/read.js';
import type { BackupStore } from '../storage/store.js';

/**
 * Which database a backups folder or S3 prefix belongs to (issue #15): two databases
 * configured into the same data_dir and prefix used to mix silently, and `s3:latest` then
 * restored the other one's backup. Now:
 *
 * - the database has an identity, a random id kept beside it in `{db}.lifeboat-id` (no
 *   table in the application's database; backup names stay Hiqlite's). A restore writes the
 *   id of the backup it put in place, so the identity moves with the data to a new machine;
 * - a store holds a marker, `.lifeboat-db.json`, written once with a conditional create by
 *   the first database that backs up there; a database with another id is refused there
 *   (WRONG_DATABASE) — its backups would mix — and `s3:latest`/`verify` pick only backups of
 *   the marker's database (objects carry the id as metadata where the store keeps it);
 * - a database without an id file (the first run, an upgrade, a restore by Hiqlite or from a
 *   plain file) takes the marker's id when the marker names the same database file; any
 *   other is refused with a hint: a typo in data_dir creates an empty database elsewhere, and
 *   its backups must not become the newest of the real one.
 *
 * Backups Hiqlite wrote carry no identity and stay usable everywhere.
 */

/** The marker's name in every store: a dot name, never listed as a backup, never a Hiqlite backup name. */
export const MARKER = '.lifeboat-db.json';
/** The metadata key an object's database id travels under (S3: x-amz-meta-lifeboat-db). */
export const DB_ID_METADATA = 'lifeboat-db';

export interface DatabaseSelf {
  /** Absolute path of the database file. */
  readonly path: string;
  readonly nodeId: number;
}

export interface Marker {
  readonly id: string;
  /** The database that claimed the store: for messages, and to recognise it without its id file. */
  readonly path: string;
  readonly nodeId: number;
  readonly host: string;
  readonly claimedAt: string;
}

export const idFileOf = (dbFile: string) => `${dbFile}.lifeboat-id`;

/** The id kept beside the database, or undefined when there is none. */
export async function readDatabaseId(dbFile: string): Promise<string | undefined> {
  const text = await readTextIfExists(idFileOf(dbFile));
  if (text === undefined) return undefined;
  try {
    const id = (JSON.parse(text) as { id?: unknown }).id;
    if (typeof id === 'string' && id.length > 0) return id;
  } catch {
    // reported below
  }
  throw new LifeboatError('IDENTITY_UNREADABLE', `${idFileOf(dbFile)} is not a valid identity file`, {
    hint: 'it records which database this is; `lifeboat identity --adopt` writes it again from the backups folder',
  });
}

/** Keeps `id` beside the database, owned like it (so the application's user can read it). */
export async function writeDatabaseId(dbFile: string, id: string): Promise<void> {
  const db = await stat(dbFile).catch(() => undefined);
  const owner = db && process.getuid?.() === 0 ? { uid: db.uid, gid: db.gid } : undefined;
  await writeFileAtomic(idFileOf(dbFile), `${JSON.stringify({ id, createdAt: new Date().toISOString() }, null, 2)}\n`, {
    owner,
  });
}

/** The store's marker, or undefined when nobody claimed it yet. */
export async function readMarker(store: BackupStore): Promise<Marker | undefined> {
  let text: string;
  try {
    text = (await buffer(await store.get(MARKER))).toString('utf8');
  } catch (err) {
    if (err instanceof LifeboatError && err.code === 'NOT_FOUND') return undefined;
    throw err;
  }
  try {
    const m = JSON.parse(text) as Partial<Marker>;
    if (typeof m.id === 'string' && typeof m.path === 'string') return m as Marker;
  } catch {
    // reported below
  }
  throw new LifeboatError('IDENTITY_UNREADABLE', `the marker ${MARKER} in ${store.description} is not valid`, {
    hint: `it records which database the store belongs to; delete it only if the store holds backups of one database`,
  });
}

/** Claims the store for `id` unless another database did first; returns the marker that holds. */
async function claim(store: BackupStore, id: string, self: DatabaseSelf): Promise<Marker> {
  const marker: Marker = {
    id,
    path: self.path,
    nodeId: self.nodeId,
    host: hostname(),
    claimedAt: new Date().toISOString(),
  };
  try {
    await store.create(MARKER, Buffer.from(`${JSON.stringify(marker, null, 2)}\n`));
    return marker;
  } catch (err) {
    if (!(err instanceof LifeboatError && err.code === 'EXISTS')) throw err;
    const there = await readMarker(store);
    if (!there) throw err;
    return there;
  }
}

function wrongDatabase(store: BackupStore, marker: Marker, self: DatabaseSelf, id: string | undefined): LifeboatError {
  const ours = id
    ? `this database (${self.path}, id ${id})`
    : `the database at ${self.path} (which has no identity yet)`;
  return new LifeboatError(
    'WRONG_DATABASE',
    `${store.description} holds the backups of another database (${marker.path} on ${marker.host}, ` +
      `id ${marker.id}, since ${marker.claimedAt}), not of ${ours}: their backups would mix, and a restore of ` +
      "'latest' could pick the wrong one",
    {
      hint:
        'give each database its own backups folder and S3 prefix (data_dir, HQL_S3_PREFIX). If this IS that database ' +
        `(restored or moved without its ${idFileOf(self.path).split('/').at(-1)} file), run ` +
        '`lifeboat identity --adopt`; if it is a new, empty database created by mistake, restore the real one first',
    },
  );
}

export interface IdentityRequest extends DatabaseSelf {
  /** Lifeboat created the database file in this start (it was missing): a new, empty database. */
  readonly createdNow?: boolean;
}

/**
 * The database's id, established before its first backup goes anywhere: the id file's; else
 * the id of a marker that names this very database file (an upgrade, or a restore by other
 * means — but never for a database Lifeboat just created empty); else a new one. The local
 * store is claimed for it (WRONG_DATABASE when another database holds it); `others` (the
 * remote) are only read, when they answer, so a database moved to a new machine finds its id
 * there — whether they belong to it is checked when a push reaches them (checkStore), so a
 * refused remote costs the push, never the local backup.
 */
export async function establishIdentity(
  self: IdentityRequest,
  local: BackupStore,
  others: readonly BackupStore[] = [],
): Promise<string> {
  let id = await readDatabaseId(self.path);
  if (id === undefined) {
    const here = await readMarker(local);
    if (here) {
      if (self.createdNow || here.path !== self.path) throw wrongDatabase(local, here, self, undefined);
      id = here.id;
    } else if (!self.createdNow) {
      for (const store of others) {
        const there = await readMarker(store).catch(() => undefined); // down: checked at the push
        if (there?.path === self.path) {
          id = there.id;
          break;
        }
      }
    }
    id ??= randomUUID();
    await writeDatabaseId(self.path, id);
  }
  await checkStore(self, id, local);
  return id;
}

/** Claims `store` for `id`, or checks that it is claimed for it; WRONG_DATABASE otherwise. */
export async function checkStore(self: DatabaseSelf, id: string, store: BackupStore): Promise<void> {
  const marker = (await readMarker(store)) ?? (await claim(store, id, self));
  if (marker.id !== id) throw wrongDatabase(store, marker, self, id);
}

/** The database a store belongs to, for restores that must pick only its backups (undefined: unclaimed). */
export async function storeOwner(store: BackupStore): Promise<string | undefined> {
  return (await readMarker(store))?.id;
}
