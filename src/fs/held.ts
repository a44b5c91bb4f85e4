import { openSync } from 'node:fs';

/**
 * Read-only descriptors of files SQLite locks (a live database, its `-shm`), in a process where an
 * application's SQLite connections may hold POSIX locks on them: closing any descriptor of a file
 * releases every POSIX lock the process holds on it, the application's too (spec F14). So each is
 * opened once per file and never closed; a file replaced on disk (another inode) gets a new one,
 * and the old one stays open, unused, until the process exits.
 */

const held = new Map<string, { readonly fd: number; readonly ino: number }>();

/** The descriptor held for `path`, whose inode is now `ino` (from a stat just made). */
export function heldDescriptor(path: string, ino: number): number {
  const entry = held.get(path);
  if (entry?.ino === ino) return entry.fd;
  const fd = openSync(path, 'r');
  held.set(path, { fd, ino });
  return fd;
}
