import { parseBackupName } from './naming.js';

/**
 * Pure decisions about backups in time: which expire, and which one is "the newest". A
 * backup's time is the timestamp in its name (as Hiqlite does), but a clock that is wrong —
 * on this machine now, or on the machine that named a backup — must never cost history:
 *
 * - a backup whose name is in the future, or later than the time the store says it was
 *   written, is *distrusted*: reported, never "the newest", never deleted by age;
 * - time-based deletion is skipped for the run when this machine's clock disagrees with the
 *   S3 server's, or when `now` is so far past the newest earlier backup that every backup
 *   would expire (a clock that jumped ahead, or a long outage: the next run resumes);
 * - the `keepMin` newest trustworthy backups are kept whatever their age.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** A name more than this ahead of `now` was made by a clock that was ahead. */
export const FUTURE_TOLERANCE_MS = 10 * MINUTE_MS;
/**
 * A name may be this much later than the store's modified time (two clocks that disagree a
 * little) before it is distrusted. Only this direction counts: a name is taken before its file
 * is written, so an honest clock names a backup before the store dates it. The other way round
 * is normal — a backup copied in later (a bucket migration, `cp`, a Hiqlite backup uploaded by
 * hand), whose S3 LastModified cannot be set — and distrusting it would keep it, and warn about
 * it, forever.
 */
export const MODIFIED_TOLERANCE_MS = HOUR_MS;
/** A measured offset from the S3 server's clock beyond this means this machine's clock is wrong. */
export const MAX_CLOCK_OFFSET_MS = 10 * MINUTE_MS;
/** Jitter of a schedule: a daily backup may start a little more than a day after the last. */
const GAP_SLACK_MS = HOUR_MS;

/** What retention reads of a stored backup (a StoredObject fits). */
export interface Listed {
  readonly name: string;
  readonly modified?: Date | undefined;
}

export interface Distrusted {
  readonly name: string;
  /** Why the time in its name cannot be trusted, for a warning. */
  readonly reason: string;
}

export interface RetentionPolicy {
  /** Backups whose name timestamp is older than this many days may expire. */
  readonly keepDays: number;
  /** This many of the newest trustworthy backups are kept whatever their age. */
  readonly keepMin: number;
  /** Names that must survive whatever their age (e.g. the backup just made). */
  readonly protect?: readonly string[];
}

export interface RetentionInput {
  readonly objects: readonly Listed[];
  readonly now: Date;
  readonly policy: RetentionPolicy;
  /** The S3 server's clock minus this machine's, when measured (S3Store.clockOffsetMs()). */
  readonly clockOffsetMs?: number | undefined;
}

/**
 * What one retention pass over a store came to (`lifeboat_backup_retention_runs_total{result}`):
 * it deleted something; nothing was old enough; it was skipped (the clock); the listing or a
 * deletion failed (credentials that may write but not delete: the store grows for ever).
 */
export const SNAPSHOT_RETENTION_RESULTS = ['deleted', 'nothing', 'skipped', 'failed'] as const;
export type SnapshotRetentionResult = (typeof SNAPSHOT_RETENTION_RESULTS)[number];

export interface RetentionDecision {
  /** Names to delete, sorted. */
  readonly expired: readonly string[];
  /** Why time-based deletion was skipped this run; undefined when it ran. */
  readonly skipped: string | undefined;
  /** Backups whose time cannot be trusted (kept, and never counted as the newest). */
  readonly distrusted: readonly Distrusted[];
}

interface Dated {
  readonly name: string;
  readonly ms: number;
}

/** Why the time in `object`'s name cannot be trusted at `now`, or undefined when it can. */
export function distrustReason(object: Listed, now: Date): string | undefined {
  const id = parseBackupName(object.name);
  if (!id) return undefined;
  const named = id.unixSeconds * 1000;
  if (named - now.getTime() > FUTURE_TOLERANCE_MS) {
    return (
      `its name says ${iso(named)}, ${span(named - now.getTime())} after this machine's clock ` +
      `(${iso(now.getTime())}): the clock of the machine that made it was ahead, or this one is behind`
    );
  }
  const modified = object.modified?.getTime();
  if (modified !== undefined && !Number.isNaN(modified) && named - modified > MODIFIED_TOLERANCE_MS) {
    return (
      `its name says ${iso(named)} but the store says it was written at ${iso(modified)}, ` +
      `${span(named - modified)} earlier: the clock of the machine that made it was ahead`
    );
  }
  return undefined;
}

/**
 * The newest backup whose time can be trusted (for `s3:latest`), and the newer ones passed
 * over, each with its reason. When no backup can be trusted, the newest by name is the pick
 * and `pickDistrusted` says why it is doubtful: a restore then still has something to restore.
 */
export function newestTrustworthy<T extends Listed>(
  objects: readonly T[],
  now: Date,
): { pick: T | undefined; skipped: Distrusted[]; pickDistrusted: string | undefined } {
  const backups = objects
    .flatMap((o) => {
      const id = parseBackupName(o.name);
      return id ? [{ o, id }] : [];
    })
    .sort(
      (a, b) => b.id.unixSeconds - a.id.unixSeconds || a.id.nodeId - b.id.nodeId || a.o.name.localeCompare(b.o.name),
    );
  const skipped: Distrusted[] = [];
  for (const { o } of backups) {
    const reason = distrustReason(o, now);
    if (reason === undefined) return { pick: o, skipped, pickDistrusted: undefined };
    skipped.push({ name: o.name, reason });
  }
  const first = skipped.shift();
  return { pick: backups[0]?.o, skipped, pickDistrusted: first?.reason };
}

/**
 * Which backups expire at `now`. Names that are not Lifeboat/Hiqlite backups, protected
 * names and distrusted backups are never returned; neither are the `keepMin` newest
 * trustworthy backups (at least the newest one, and every backup tied with it).
 */
export function decideRetention(input: RetentionInput): RetentionDecision {
  const { now, policy } = input;
  for (const [key, value] of [
    ['keepDays', policy.keepDays],
    ['keepMin', policy.keepMin],
  ] as const) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`${key} must be a whole number >= 0, got ${value}`);
  }
  const protect = new Set(policy.protect ?? []);
  const trusted: Dated[] = [];
  const distrusted: Distrusted[] = [];
  for (const object of input.objects) {
    const id = parseBackupName(object.name);
    if (!id) continue;
    const reason = distrustReason(object, now);
    if (reason === undefined) trusted.push({ name: object.name, ms: id.unixSeconds * 1000 });
    else distrusted.push({ name: object.name, reason });
  }
  distrusted.sort((a, b) => a.name.localeCompare(b.name));
  const keep = (skipped: string | undefined): RetentionDecision => ({ expired: [], skipped, distrusted });

  const offset = input.clockOffsetMs;
  if (offset !== undefined && Math.abs(offset) > MAX_CLOCK_OFFSET_MS) {
    const direction = offset < 0 ? 'ahead of' : 'behind';
    return keep(
      `this machine's clock is ${span(Math.abs(offset))} ${direction} the S3 server's, ` +
        'so backup ages cannot be trusted; fix the clock (NTP)',
    );
  }
  const earlier = trusted.filter((b) => !protect.has(b.name));
  if (earlier.length === 0) return keep(undefined);
  const newestEarlier = Math.max(...earlier.map((b) => b.ms));
  const window = Math.max(policy.keepDays, 1) * DAY_MS + GAP_SLACK_MS;
  if (now.getTime() - newestEarlier > window) {
    return keep(
      `now (${iso(now.getTime())}) is ${span(now.getTime() - newestEarlier)} after the newest earlier backup ` +
        `(${iso(newestEarlier)}), more than keep_days (${policy.keepDays}): every backup would expire, ` +
        'so the clock may have jumped ahead; if it is right (after a long outage), the next run resumes',
    );
  }

  const newestFirst = [...trusted].sort((a, b) => b.ms - a.ms || a.name.localeCompare(b.name));
  const newestMs = newestFirst[0]!.ms;
  const kept = new Set(newestFirst.slice(0, policy.keepMin).map((b) => b.name));
  const threshold = now.getTime() - policy.keepDays * DAY_MS;
  const expired = earlier
    .filter((b) => b.ms < threshold && b.ms < newestMs && !kept.has(b.name))
    .map((b) => b.name)
    .sort();
  return { expired, skipped: undefined, distrusted };
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "40 d 2 h", "12 min": a duration for messages. */
function span(ms: number): string {
  const minutes = Math.round(ms / MINUTE_MS);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}
