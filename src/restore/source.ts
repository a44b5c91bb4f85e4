import { isAbsolute, resolve } from 'node:path';
import { isBackupName } from '../backup/naming.js';
import { ConfigError } from '../errors.js';
import { isId } from '../pitr/names.js';
import { iso, type PitrTarget, timelineProblem } from '../pitr/restore/plan.js';

/**
 * Where a restore comes from: HQL_BACKUP_RESTORE, or the argument of `lifeboat restore|verify`.
 * `s3:` and `file:` are Hiqlite's forms; `s3:latest` and the `local:` forms are Lifeboat's.
 */
export type RestoreSource =
  | { readonly kind: 's3'; readonly object: string }
  | { readonly kind: 's3-latest' }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'local'; readonly name: string }
  | { readonly kind: 'local-latest' }
  /** Continuous backup to a point (docs/continuous-backup.md); the database id is found in the bucket when absent. */
  | {
      readonly kind: 'pitr';
      readonly target: PitrTarget;
      readonly dbId?: string | undefined;
      /** `latest` and a time on this timeline, a branch a restore left (default: the newest generation's). */
      readonly timeline?: number | undefined;
    };

export interface ParseSourceOptions {
  /** How the value is named in messages; default HQL_BACKUP_RESTORE. */
  readonly name?: string;
  /**
   * An operator's command line: a relative `file:` path is taken relative to this folder, and a
   * bare backup name (as `lifeboat list` prints it) means `local:<name>`. Not for the
   * environment variable, whose working directory nobody sees.
   */
  readonly cwd?: string;
}

const FORMS =
  'use s3:<object name> (an encrypted backup in the bucket), s3:latest (the newest one), ' +
  'local:<name> or local:latest (a backup in the local backups folder), file:<absolute path> (a plain SQLite file), ' +
  'or pitr:latest, pitr:txid:<N> or pitr:time:<RFC 3339 time> (continuous backup to a point; ' +
  'latest and time: may end with " on timeline <K>")';
/** RFC 3339 with its offset: a time without one would be read in the server's zone. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * The point of a continuous-backup restore: `latest`, `txid:<N>` (decimal) or `time:<RFC 3339>`;
 * a string saying what is wrong otherwise.
 */
export function parsePitrTarget(form: string): PitrTarget | string {
  if (form === 'latest') return { kind: 'latest' };
  if (form.startsWith('txid:')) {
    const n = form.slice(5);
    if (!/^[0-9]{1,16}$/.test(n) || !Number.isSafeInteger(Number(n))) return `txid "${n}" is not a whole number`;
    return { kind: 'txid', txid: Number(n) };
  }
  if (form.startsWith('time:')) {
    const t = form.slice(5);
    const ms = Date.parse(t.replace(' ', 'T'));
    // Date.parse rolls 2026-02-30 over to March: the calendar date must exist as written.
    const [y, m, d] = t.slice(0, 10).split('-').map(Number) as [number, number, number];
    const day = new Date(Date.UTC(y, m - 1, d));
    const real = day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
    if (!RFC3339.test(t) || !Number.isFinite(ms) || !real)
      return `time "${t}" is not an RFC 3339 time with its offset (e.g. 2026-03-01T12:00:00Z)`;
    return { kind: 'time', ms };
  }
  return `"${form}" is not latest, txid:<N> or time:<RFC 3339 time>`;
}

/** A continuous-backup source for `target` of database `dbId` (32 hex digits) on `timeline`, or why not. */
export function pitrSource(form: string, dbId?: string, timeline?: string): RestoreSource | string {
  const target = parsePitrTarget(form);
  if (typeof target === 'string') return target;
  if (dbId !== undefined && !isId(dbId)) return `database id "${dbId}" is not 32 lower-case hex digits`;
  const source: RestoreSource = { kind: 'pitr', target, dbId };
  return timeline === undefined ? source : onTimeline(source, timeline);
}

/** A continuous-backup source resolved on timeline `text` (a whole number from 1), or why it cannot be. */
export function onTimeline(source: Extract<RestoreSource, { kind: 'pitr' }>, text: string): RestoreSource | string {
  if (source.timeline !== undefined) return `it names timeline ${source.timeline} already`;
  if (!/^[0-9]{1,15}$/.test(text)) return `timeline "${text}" is not a whole number from 1`;
  const k = Number(text);
  return timelineProblem(source.target, k) ?? { ...source, timeline: k };
}

/**
 * Parses a restore source. Difference from Hiqlite: Hiqlite logs an invalid value and starts
 * WITHOUT restoring; Lifeboat throws a ConfigError, so start-up stops, because an operator who
 * set the variable expects a restore, and a typo must not start the application on the wrong
 * data. An empty environment variable (Rauthy's example sets `HQL_BACKUP_RESTORE = ""`) counts
 * as unset in the config loader and never reaches this function.
 */
export function parseRestoreSource(value: string, options: ParseSourceOptions | string = {}): RestoreSource {
  const { name = 'HQL_BACKUP_RESTORE', cwd } = typeof options === 'string' ? { name: options } : options;
  const v = value.trim();
  const bad = (problem: string) => new ConfigError([`${name}: ${JSON.stringify(value)} ${problem}; ${FORMS}`]);
  if (v === '') throw bad('is empty');
  const plainName = (object: string, what: string) => {
    if (object === '') throw bad(`names no ${what}`);
    if (/[/\\]/.test(object) || object === '.' || object === '..') {
      throw bad(
        'is a path, not an object name; backups are objects directly under the bucket root or ' +
          'HQL_S3_PREFIX (e.g. s3:backup_node_1_1732415400.sqlite; set HQL_S3_PREFIX for a "folder")',
      );
    }
    if (/[\u0000-\u001f\u007f]/.test(object) || Buffer.byteLength(object) > 1024) {
      throw bad(`is not a valid ${what} name`);
    }
    return object;
  };
  if (v.startsWith('s3:')) {
    const object = v.slice(3);
    if (object === 'latest') return { kind: 's3-latest' };
    return { kind: 's3', object: plainName(object, 'object') };
  }
  if (v.startsWith('local:')) {
    const backup = v.slice(6);
    if (backup === 'latest') return { kind: 'local-latest' };
    return { kind: 'local', name: plainName(backup, 'backup') };
  }
  if (v.startsWith('file:')) {
    const path = v.slice(5);
    if (path === '') throw bad('names no file');
    if (path.split(/[/\\]/).includes('..')) throw bad('contains ".."; give the plain path of the backup file');
    if (isAbsolute(path)) return { kind: 'file', path };
    if (cwd === undefined) throw bad('is a relative path; give the absolute path of the backup file');
    return { kind: 'file', path: resolve(cwd, path) };
  }
  if (v.startsWith('pitr:')) {
    // "… on timeline K", as formatSource writes it (in the marker and the logs): the form the
    // environment variable has for --timeline.
    const on = /^(.*\S)\s+on\s+timeline\s+(\S+)$/.exec(v.slice(5));
    const source = on ? pitrSource(on[1]!, undefined, on[2]) : pitrSource(v.slice(5));
    if (typeof source === 'string') throw bad(`is not a point of continuous backup: ${source}`);
    return source;
  }
  if (cwd !== undefined && isBackupName(v)) return { kind: 'local', name: v };
  throw bad('has an unknown prefix');
}

export function formatSource(source: RestoreSource): string {
  switch (source.kind) {
    case 's3':
      return `s3:${source.object}`;
    case 's3-latest':
      return 's3:latest';
    case 'file':
      return `file:${source.path}`;
    case 'local':
      return `local:${source.name}`;
    case 'local-latest':
      return 'local:latest';
    case 'pitr': {
      const t = source.target;
      const form = t.kind === 'latest' ? 'latest' : t.kind === 'txid' ? `txid:${t.txid}` : `time:${iso(t.ms)}`;
      const on = source.timeline === undefined ? '' : ` on timeline ${source.timeline}`;
      return `pitr:${form}${on}${source.dbId ? ` (database ${source.dbId})` : ''}`;
    }
  }
}
