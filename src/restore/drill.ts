import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sortBackupsNewestFirst } from '../backup/naming.js';
import { acquireLock, lockOwner } from '../fs/lock.js';
import type { BackupStore } from '../storage/store.js';

/**
 * The temp folders of `lifeboat verify` (a restore drill): each holds a plaintext copy of a
 * backup while it is checked, and a lock while its drill runs. A folder whose lock is free was
 * left by a drill that was killed; the next drill removes it.
 */
const PREFIX = 'lifeboat-verify-';
/** A folder younger than this may belong to a drill that has not taken its lock yet. */
const GRACE_MS = 60_000;

export interface DrillFolder {
  readonly path: string;
  /** Removes the folder and everything in it; releases its lock. */
  remove(): Promise<void>;
}

/** A new drill folder under `root`, locked; leftovers of killed drills there are removed first. */
export async function openDrillFolder(root: string): Promise<DrillFolder> {
  await removeLeftoverDrills(root);
  const path = await mkdtemp(join(root, PREFIX));
  const lock = await acquireLock(join(path, '.lock'), 'verify');
  return {
    path,
    remove: async () => {
      await lock.release();
      await rm(path, { recursive: true, force: true });
    },
  };
}

/** Removes the drill folders under `root` whose drill is gone. Returns their paths. */
export async function removeLeftoverDrills(root: string, now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await readdir(root).catch(() => [] as string[])) {
    if (!entry.startsWith(PREFIX)) continue;
    const path = join(root, entry);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isDirectory() || now - info.mtimeMs < GRACE_MS) continue;
    if (await lockOwner(join(path, '.lock'))) continue;
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

/** What a drill found suspicious in a backup that passed its checks (`--strict` fails on any). */
export function drillWarnings(
  checked: { readonly name: string; readonly tables: number; readonly size: number },
  previous: { readonly name: string; readonly size: number } | undefined,
): string[] {
  const out: string[] = [];
  if (checked.tables === 0) out.push(`${checked.name} has no tables: is it a backup of an empty or a new database?`);
  if (previous && checked.size * 2 < previous.size) {
    out.push(
      `${checked.name} is less than half the size of the backup before it (${checked.size} against ` +
        `${previous.size} bytes in ${previous.name}): was the database emptied, or replaced by another one?`,
    );
  }
  return out;
}

/** The backup just before `name` in the store, by the time in the names. */
export async function previousBackup(
  store: Pick<BackupStore, 'list'>,
  name: string,
): Promise<{ name: string; size: number } | undefined> {
  const all = sortBackupsNewestFirst(await store.list());
  const at = all.findIndex((o) => o.name === name);
  return at < 0 ? undefined : all[at + 1];
}
