import { parseBackupName } from './naming.js';

export interface RetentionPolicy {
  /** Backups whose name timestamp is older than this many days are expired. */
  readonly keepDays: number;
  /** Names that must survive whatever their age (e.g. the backup just made). */
  readonly protect?: readonly string[];
}

const DAY_SECONDS = 86_400;

/**
 * Pure decision: which of `names` expire at `now`. Age comes from the timestamp in the
 * name (as Hiqlite does), never from file times. Names that are not Lifeboat/Hiqlite
 * backups are never returned, and neither is the newest backup: retention alone must
 * never leave the store without a backup.
 */
export function expiredBackups(names: readonly string[], now: Date, policy: RetentionPolicy): string[] {
  if (!Number.isInteger(policy.keepDays) || policy.keepDays < 0)
    throw new RangeError(`keepDays must be a whole number >= 0, got ${policy.keepDays}`);
  const threshold = Math.floor(now.getTime() / 1000) - policy.keepDays * DAY_SECONDS;
  const protect = new Set(policy.protect ?? []);
  const backups = names.flatMap((name) => {
    const id = parseBackupName(name);
    return id ? [{ name, ts: id.unixSeconds }] : [];
  });
  if (backups.length === 0) return [];
  const newestTs = Math.max(...backups.map((b) => b.ts));
  return backups
    .filter((b) => b.ts < threshold && b.ts < newestTs && !protect.has(b.name))
    .map((b) => b.name)
    .sort();
}
