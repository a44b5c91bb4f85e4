import { statfs } from 'node:fs/promises';
import { LifeboatError } from '../errors.js';
import { errnoOf } from './errno.js';

/**
 * Free space before a large write (a backup's snapshot, a restore's download): a copy that
 * fills the disk would also stop the application that writes there. The room asked for is
 * the data plus a margin, so a run that fits also leaves the disk usable.
 */

const MiB = 1024 * 1024;
/** Added to every need: file system overhead, journals, and room for the application to go on. */
export const SPACE_MARGIN_BYTES = 64 * MiB;
/** And this share of the data, for growth while it is copied. */
export const SPACE_MARGIN_PERCENT = 10;

/** What a write of `bytes` needs free: the bytes + 10% + 64 MiB (whole bytes, rounded up). */
export function spaceNeededFor(bytes: number): number {
  return bytes + Math.ceil((bytes * SPACE_MARGIN_PERCENT) / 100) + SPACE_MARGIN_BYTES;
}

/** Bytes an unprivileged process may still write on the file system of `dir` (root's reserve not counted). */
export async function freeSpace(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/**
 * NO_SPACE when the file system of `dir` has less than `spaceNeededFor(bytes)` free; `what`
 * names the data in the message ("a snapshot of /var/lib/app/app.db"). Returns what was
 * needed and what is free.
 */
export async function ensureFreeSpace(
  dir: string,
  bytes: number,
  what: string,
): Promise<{ needed: number; free: number }> {
  const needed = spaceNeededFor(bytes);
  const free = await freeSpace(dir);
  if (free < needed) {
    throw new LifeboatError(
      'NO_SPACE',
      `not enough free space in ${dir} for ${what}: ${formatSize(needed)} needed ` +
        `(${formatSize(bytes)} + 10% + 64 MiB), ${formatSize(free)} free; nothing was written`,
      {
        hint:
          `free space on the file system of ${dir} (or give it a larger one); ` +
          'the margin keeps a copy from filling the disk the application writes to',
      },
    );
  }
  return { needed, free };
}

/** A write failed because its file system is full (ENOSPC, a quota's EDQUOT, SQLite's SQLITE_FULL). */
export function isDiskFull(err: unknown): boolean {
  const errno = errnoOf(err);
  if (errno === 'ENOSPC' || errno === 'EDQUOT') return true;
  // From the SQLite worker or copy process: SQLite's code, or the errno of a write it made.
  const sqlite = (err as { sqliteCode?: unknown } | null)?.sqliteCode;
  return typeof sqlite === 'string' && (sqlite.startsWith('SQLITE_FULL') || sqlite === 'ENOSPC' || sqlite === 'EDQUOT');
}

/** "1.20 GiB", "64.0 MiB", "512 KiB": sizes in messages. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
