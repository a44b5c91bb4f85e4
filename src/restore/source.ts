import { isAbsolute } from 'node:path';
import { ConfigError } from '../errors.js';

/** Where a restore comes from: HQL_BACKUP_RESTORE, or the argument of `lifeboat restore|verify`. */
export type RestoreSource =
  | { readonly kind: 's3'; readonly object: string }
  | { readonly kind: 's3-latest' }
  | { readonly kind: 'file'; readonly path: string };

const FORMS =
  'use s3:<object name> (an encrypted backup in the bucket), ' +
  's3:latest (the newest one), or file:<absolute path> (a plain SQLite file)';

/**
 * Parses a restore source (HQL_BACKUP_RESTORE, or the argument of `lifeboat restore|verify`).
 *
 * Difference from Hiqlite: Hiqlite logs an invalid value and starts WITHOUT restoring; Lifeboat
 * throws a ConfigError, so start-up stops, because an operator who set the variable expects a
 * restore, and a typo must not start the application on the wrong data. An empty environment
 * variable (Rauthy's example sets `HQL_BACKUP_RESTORE = ""`) counts as unset in the config
 * loader and never reaches this function.
 */
export function parseRestoreSource(value: string, name = 'HQL_BACKUP_RESTORE'): RestoreSource {
  const v = value.trim();
  const bad = (problem: string) => new ConfigError([`${name}: ${JSON.stringify(value)} ${problem}; ${FORMS}`]);
  if (v === '') throw bad('is empty');
  if (v.startsWith('s3:')) {
    const object = v.slice(3);
    if (object === 'latest') return { kind: 's3-latest' };
    if (object === '') throw bad('names no object');
    if (/[/\\]/.test(object) || object === '.' || object === '..') {
      throw bad(
        'is a path, not an object name; backups are objects directly under the bucket root or ' +
          'HQL_S3_PREFIX (e.g. s3:backup_node_1_1732415400.sqlite; set HQL_S3_PREFIX for a "folder")',
      );
    }
    if (/[\u0000-\u001f\u007f]/.test(object) || Buffer.byteLength(object) > 1024)
      throw bad('is not a valid object name');
    return { kind: 's3', object };
  }
  if (v.startsWith('file:')) {
    const path = v.slice(5);
    if (path === '') throw bad('names no file');
    if (!isAbsolute(path)) throw bad('is a relative path; give the absolute path of the backup file');
    if (path.split(/[/\\]/).includes('..')) throw bad('contains ".."; give the plain absolute path of the backup file');
    return { kind: 'file', path };
  }
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
  }
}
