/**
 * Backup names, exactly as Hiqlite writes them (`backup_node_{node_id}_{unix_seconds}.sqlite`),
 * so that Hiqlite and Lifeboat can list, expire and restore each other's backups.
 * The same name is used for the local file and for the S3 object.
 */

const BACKUP_NAME = /^backup_node_([1-9][0-9]{0,19})_([0-9]{1,12})\.sqlite$/;

export interface BackupId {
  readonly nodeId: number;
  /** UTC unix seconds at the start of the backup run. */
  readonly unixSeconds: number;
}

export function backupName(nodeId: number, unixSeconds: number): string {
  if (!Number.isSafeInteger(nodeId) || nodeId < 1)
    throw new RangeError(`node id must be a whole number >= 1, got ${nodeId}`);
  if (!Number.isSafeInteger(unixSeconds) || unixSeconds < 0)
    throw new RangeError(`timestamp must be whole unix seconds, got ${unixSeconds}`);
  return `backup_node_${nodeId}_${unixSeconds}.sqlite`;
}

/** The node id and timestamp of a backup name, or undefined for any other name. */
export function parseBackupName(name: string): BackupId | undefined {
  const m = BACKUP_NAME.exec(name);
  if (!m) return undefined;
  const nodeId = Number(m[1]);
  const unixSeconds = Number(m[2]);
  if (!Number.isSafeInteger(nodeId)) return undefined;
  return { nodeId, unixSeconds };
}

export function isBackupName(name: string): boolean {
  return parseBackupName(name) !== undefined;
}

/** Backup time as a Date (from the name, never from file times). */
export function backupTime(id: BackupId): Date {
  return new Date(id.unixSeconds * 1000);
}

/** Names that are backups, newest first (ties broken by node id, then name, for a stable order). */
export function sortBackupsNewestFirst<T extends { readonly name: string }>(
  items: readonly T[],
): Array<T & { readonly id: BackupId }> {
  const out: Array<T & { readonly id: BackupId }> = [];
  for (const item of items) {
    const id = parseBackupName(item.name);
    if (id) out.push({ ...item, id });
  }
  return out.sort(
    (a, b) => b.id.unixSeconds - a.id.unixSeconds || a.id.nodeId - b.id.nodeId || a.name.localeCompare(b.name),
  );
}
