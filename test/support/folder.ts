import { existsSync, readdirSync } from 'node:fs';
import { BACKUP_LOCK } from '../../src/compose.js';
import { MARKER } from '../../src/identity/identity.js';

/** Lifeboat's bookkeeping in a backups folder: the backup lock (and its owner file) and the database marker. */
export const isBookkeeping = (name: string): boolean => name.startsWith(BACKUP_LOCK) || name === MARKER;

/** The files of a backups folder without Lifeboat's bookkeeping; a missing folder has none. */
export function backupFiles(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => !isBookkeeping(f)) : [];
}
