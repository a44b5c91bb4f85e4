import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, chown, link, lstat, mkdir, open, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isMissing, noHardLinks } from './errno.js';

/**
 * The crash-safety primitives every writer uses: temp file in the target folder → fsync →
 * rename → fsync the folder. After a crash the target is either the old file or the new one.
 */

/** Prefix of every temp file Lifeboat creates, so stale ones can be recognised and removed. */
export const TEMP_PREFIX = '.lifeboat-tmp-';

/**
 * A new temp name beside `target`: `.lifeboat-tmp-{name}.{random}`. A temp of a temp (a
 * point-in-time restore builds its database beside the restore's own temp file) keeps the one
 * prefix, `.lifeboat-tmp-{name}.{random}.{random}`: the clean-up of `{name}`'s temps finds it.
 */
export function tempPathFor(target: string): string {
  const name = basename(target);
  const prefix = name.startsWith(TEMP_PREFIX) ? '' : TEMP_PREFIX;
  return join(dirname(target), `${prefix}${name}.${randomBytes(6).toString('hex')}`);
}

/** fsync of a file or a folder (a folder's fsync makes renames and new names in it durable). */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export const fsyncFile = fsyncPath;
export const fsyncDir = fsyncPath;

/**
 * Creates a folder and its missing parents with `mode` (default 0700). When Lifeboat runs as
 * root (an operator's restore onto a lost disk), each new folder gets the owner of its parent,
 * so the application can use it. A folder that exists is never changed: its owner and mode
 * are the operator's.
 */
export async function ensureDir(dir: string, mode = 0o700): Promise<void> {
  const missing: string[] = [];
  let at = dir;
  while (!(await lstat(at).catch(() => undefined))) {
    missing.unshift(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  for (const folder of missing) {
    try {
      await mkdir(folder, { mode });
    } catch (err) {
      if ((err as { code?: unknown }).code === 'EEXIST') continue; // made meanwhile: not ours to change
      throw err;
    }
    await chmod(folder, mode); // mkdir's mode is filtered by the umask
    if (process.getuid?.() === 0) {
      const parent = await lstat(dirname(folder));
      await chown(folder, parent.uid, parent.gid);
    }
  }
}

/** fsync + atomic rename + fsync of the folder: `temp` becomes `target`. */
export async function commitFile(temp: string, target: string): Promise<void> {
  await fsyncFile(temp);
  await rename(temp, target);
  await fsyncDir(dirname(target));
}

/**
 * Gives the file at `from` the name `to` without ever replacing a file there: a hard link,
 * which fails with EEXIST when `to` exists (a rename would silently replace it). Where the
 * file system has no hard links, a rename after one more existence check (EEXIST too); `from`
 * is then gone. Says which happened.
 */
export async function linkNoClobber(from: string, to: string): Promise<'linked' | 'renamed'> {
  try {
    await link(from, to);
    return 'linked';
  } catch (err) {
    if (!noHardLinks(err)) throw err;
  }
  if (await lstat(to).catch(() => undefined)) {
    throw Object.assign(new Error(`EEXIST: file already exists, ${to}`), { code: 'EEXIST', path: to });
  }
  await rename(from, to);
  return 'renamed';
}

export interface AtomicWriteOptions {
  /** File mode of the result; default 0600. */
  readonly mode?: number;
  /** Owner of the result (set before it gets its name). */
  readonly owner?: { readonly uid: number; readonly gid: number } | undefined;
  /** Fail with EEXIST instead of replacing an existing `target`. */
  readonly noClobber?: boolean;
  /** Interrupts the copy of a stream body (the body is destroyed, nothing is written). */
  readonly signal?: AbortSignal;
  /** Bytes of a stream body written so far. */
  readonly onProgress?: (bytes: number) => void;
  /** Called once the temp file is synced, before it gets its name (a fault point of the crash tests). */
  readonly beforeRename?: () => void;
}

/**
 * Writes `body` to `target` all-or-nothing: a temp file beside it, fsync, rename (or a
 * no-clobber link), fsync of the folder. A failure removes the temp file and leaves any
 * existing `target` untouched. Returns the number of bytes written.
 */
export async function writeFileAtomic(
  target: string,
  body: Readable | Buffer | string,
  options: AtomicWriteOptions = {},
): Promise<number> {
  const temp = tempPathFor(target);
  const mode = options.mode ?? 0o600;
  try {
    let bytes: number;
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      await writeFile(temp, body, { mode, flag: 'wx' });
      bytes = Buffer.byteLength(body);
    } else {
      bytes = 0;
      body.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        options.onProgress?.(bytes);
      });
      const out = createWriteStream(temp, { flags: 'wx', mode });
      await pipeline(body, out, ...(options.signal ? [{ signal: options.signal }] : []));
    }
    if (options.owner) await chown(temp, options.owner.uid, options.owner.gid);
    await fsyncFile(temp);
    options.beforeRename?.();
    if (options.noClobber) {
      if ((await linkNoClobber(temp, target)) === 'linked') await unlink(temp);
    } else {
      await rename(temp, target);
    }
    await fsyncDir(dirname(target));
    return bytes;
  } catch (err) {
    if (!(typeof body === 'string' || Buffer.isBuffer(body))) body.destroy();
    await rm(temp, { force: true });
    throw err;
  }
}

/**
 * Removes Lifeboat's temp files in `dir` whose names start with `TEMP_PREFIX + namePrefix`,
 * left by runs that crashed. Returns the names removed. A missing folder has none.
 */
export async function removeStaleTemps(dir: string, namePrefix = ''): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.startsWith(TEMP_PREFIX + namePrefix)) continue;
    await rm(join(dir, entry), { force: true, recursive: true });
    removed.push(entry);
  }
  return removed;
}
