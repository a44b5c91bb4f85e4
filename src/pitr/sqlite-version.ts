import { LifeboatError } from '../errors.js';

/**
 * The version gate of continuous mode (P10, spec F15). SQLite 3.7.0 – 3.51.2 has the
 * WAL-reset bug: a connection that checkpoints racing one that resets the WAL and writes can
 * leave a wrong backfill mark, and a later checkpoint then skips committed frames. It needs WAL
 * mode and two connections — a shipper that checkpoints is exactly that second connection, so
 * continuous mode must not start on such an SQLite (snapshots are unaffected and go on).
 *
 * Fixed in 3.51.3 and from 3.53.0 on, with backports 3.50.7 and 3.44.6; 3.52.0 carried a fix
 * but was withdrawn, so it counts as affected (https://www.sqlite.org/wal.html#walresetbug,
 * https://www.sqlite.org/changes.html). Versions before 3.7.0 have no WAL at all and are
 * refused too, with their own reason. Hand-written: a dozen lines of version arithmetic.
 */

/** What to tell an operator: the versions that are safe. */
export const FIXED_SQLITE_VERSIONS = '3.51.3 or later (not 3.52.0), 3.50.7+ within 3.50.x, or 3.44.6+ within 3.44.x';

/** The remedy for Lifeboat's own connections. */
export const SQLITE_UPGRADE_HINT =
  'upgrade better-sqlite3 to 12.8.0 or later (it bundles SQLite 3.51.3; 12.11 bundles 3.53.2) and reinstall; ' +
  'snapshot backups keep running meanwhile';

type Version = readonly [number, number, number];

/** `3.53.2` (or the old four-part `3.8.10.2`: the fourth part never decides here). */
function parse(version: string): Version | undefined {
  const m = /^(\d{1,4})\.(\d{1,4})\.(\d{1,4})(?:\.\d{1,4})?$/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/**
 * Why continuous mode must not run on this SQLite, or undefined when it may. `version` is what
 * `SELECT sqlite_version()` returns.
 */
export function walResetBugProblem(version: string): string | undefined {
  const v = parse(version);
  if (!v) return `cannot tell whether SQLite "${version}" has the WAL-reset bug: not a version of the form 3.x.y`;
  if (compare(v, [3, 7, 0]) < 0) return `SQLite ${version} has no WAL mode (added in 3.7.0)`;
  const [, minor, patch] = v;
  const fixed =
    (v[0] === 3 && minor === 44 && patch >= 6) ||
    (v[0] === 3 && minor === 50 && patch >= 7) ||
    (compare(v, [3, 51, 3]) >= 0 && compare(v, [3, 52, 0]) !== 0);
  if (fixed) return undefined;
  const withdrawn = compare(v, [3, 52, 0]) === 0 ? ' (3.52.0 carried a fix but was withdrawn)' : '';
  return (
    `SQLite ${version} has the WAL-reset bug${withdrawn}: a checkpoint can skip committed frames ` +
    `when two connections use the WAL, and continuous backup is such a second connection`
  );
}

/**
 * Throws PITR_SQLITE_WAL_RESET_BUG unless `version` is safe. `whose` names the SQLite in the
 * message, e.g. "Lifeboat's SQLite (better-sqlite3)" or "the application's SQLite".
 */
export function assertSafeSqlite(version: string, whose = "Lifeboat's SQLite"): void {
  const problem = walResetBugProblem(version);
  if (!problem) return;
  throw new LifeboatError(
    'PITR_SQLITE_WAL_RESET_BUG',
    `continuous backup does not start: ${whose}: ${problem}. Safe versions: ${FIXED_SQLITE_VERSIONS}`,
    { hint: SQLITE_UPGRADE_HINT },
  );
}
