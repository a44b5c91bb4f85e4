import { statSync } from 'node:fs';
import { heldDescriptor } from '../../fs/held.js';
import { readFully } from '../../fs/read.js';
import { parseWalIndexHeader, SHM_HEADER_BYTES, type WalIndexHeader } from '../../sqlite/wal.js';

/**
 * What SQLite has published as committed: the wal-index header in `-shm` (mxFrame and the
 * epoch's salts), read in capture's own process. Capture ships no frame past it. The WAL file
 * alone is not enough: an application killed after writing a commit frame but before updating
 * the wal-index leaves a transaction that SQLite's recovery rules accept in the file, yet, while
 * another connection (capture's) keeps the wal-index, SQLite never counts it — the next writer
 * overwrites it. Shipping it would put a transaction in the backup the database never had.
 *
 * Closing any descriptor of `-shm` releases every POSIX lock this process holds on it — the
 * application's own SQLite connections' locks too, in library mode (F14): it is read through a
 * descriptor that is never closed (fs/held.ts).
 */

const TORN_RETRIES = 8;

/** The wal-index header of the database at `dbPath`; undefined while a writer is updating it (look again). */
export function publishedWal(dbPath: string): WalIndexHeader | undefined {
  const path = `${dbPath}-shm`;
  const onDisk = statSync(path, { throwIfNoEntry: false });
  if (!onDisk) throw new Error(`${path} does not exist while capture's connections are open`);
  const fd = heldDescriptor(path, onDisk.ino);
  const buf = Buffer.alloc(SHM_HEADER_BYTES);
  let problem = '';
  for (let i = 0; i < TORN_RETRIES; i++) {
    const got = parseWalIndexHeader(buf.subarray(0, readFully(fd, buf, 0)));
    if (typeof got !== 'string') return got;
    problem = got;
  }
  // Torn while a writer updates it (or a connection is initialising it): the next tick reads it again.
  if (/differ|checksum|not initialised/.test(problem)) return undefined;
  throw new Error(`${path}: ${problem}`);
}
