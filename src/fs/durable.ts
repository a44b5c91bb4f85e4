import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * The crash-safety primitives every writer uses: temp file in the target folder → fsync →
 * rename → fsync the folder. After a crash the target is either the old file or the new one.
 */

/** Prefix of every temp file Lifeboat creates, so stale ones can be recognised and removed. */
export const TEMP_PREFIX = '.lifeboat-tmp-';

export function tempPathFor(target: string): string {
  return join(dirname(target), `${TEMP_PREFIX}${basename(target)}.${randomBytes(6).toString('hex')}`);
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

/** Creates a folder (and parents) and forces its mode, also when it already existed. */
export async function ensurePrivateDir(dir: string, mode = 0o700): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
  await chmod(dir, mode);
}

/** fsync + atomic rename + fsync of the folder: `temp` becomes `target`. */
export async function commitFile(temp: string, target: string): Promise<void> {
  await fsyncFile(temp);
  await rename(temp, target);
  await fsyncDir(dirname(target));
}

/**
 * Streams `body` into `target` all-or-nothing: a failure removes the temp file and leaves
 * any existing `target` untouched. `flags: 'wx'` on the temp name guards against races.
 * `beforeCommit` runs once the bytes are written and before the rename; if it rejects,
 * nothing is renamed. `signal` interrupts the copy (the body is destroyed).
 */
export async function writeFileAtomic(
  target: string,
  body: Readable,
  options: {
    mode?: number;
    onProgress?: (bytes: number) => void;
    beforeCommit?: () => Promise<void>;
    signal?: AbortSignal;
  } = {},
): Promise<number> {
  const temp = tempPathFor(target);
  let bytes = 0;
  try {
    const out = createWriteStream(temp, { flags: 'wx', mode: options.mode ?? 0o600 });
    body.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      options.onProgress?.(bytes);
    });
    await pipeline(body, out, ...(options.signal ? [{ signal: options.signal }] : []));
    await options.beforeCommit?.();
    await commitFile(temp, target);
    return bytes;
  } catch (err) {
    body.destroy();
    await rm(temp, { force: true });
    throw err;
  }
}
