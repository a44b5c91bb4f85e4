import { open } from 'node:fs/promises';

/** The database file header (sqlite.org/fileformat2.html §1.3), as restore, the backup check and doctor read it. */

/** The first 16 bytes of every SQLite database file. */
export const SQLITE_MAGIC = 'SQLite format 3\u0000';
/** The header's length. */
export const DB_HEADER_BYTES = 100;

/** Whether `header` starts with the SQLite magic. */
export function hasSqliteMagic(header: Buffer): boolean {
  return header.length >= 16 && header.toString('latin1', 0, 16) === SQLITE_MAGIC;
}

/** The page size in header bytes 16–17 (1 stands for 65536). */
export function headerPageSize(header: Buffer): number {
  const raw = header.readUInt16BE(16);
  return raw === 1 ? 65536 : raw;
}

/** The first `length` bytes of a file, fewer when it is shorter. */
export async function readFileHead(path: string, length = DB_HEADER_BYTES): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
