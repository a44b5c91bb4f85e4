import { isAbsolute, resolve } from 'node:path';
import { isBackupName } from '../backup/naming.js';
import { ConfigError } from '../errors.js';

/**
 * Where a restore comes from: HQL_BACKUP_RESTORE, or the argument of `lifeboat restore|verify`.
 * `s3:` and `file:` are Hiqlite's forms; `s3:latest` and the `local:` forms are Lifeboat's.
 */
export type RestoreSource =
  | { readonly kind: 's3'; readonly object: string }
  | { readonly kind: 's3-latest' }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'local'; readonly name: string }
  | { readonly kind: 'local-latest' };

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
  'local:<name> or local:latest (a backup in the local backups folder), or file:<absolute path> (a plain SQLite file)';

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
  }
}
