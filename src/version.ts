import { readFileSync } from 'node:fs';
import Database from './sqlite/driver.js';

/**
 * What this build is, for `--version` and `lifeboat_build_info`: read once, at run time.
 * src/ and dist/ both sit one folder below package.json, so one relative path works from
 * the sources and from the build.
 */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

export interface BuildInfo {
  /** Lifeboat's version (package.json). */
  readonly version: string;
  /** The SQLite library the driver was built with (`select sqlite_version()`): it writes every backup. */
  readonly sqlite: string;
  /** Node.js, without the `v`. */
  readonly node: string;
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const db = new Database(':memory:');
  try {
    const sqlite = (db.prepare('select sqlite_version() as v').get() as { v: string }).v;
    cached = Object.freeze({ version: packageVersion(), sqlite, node: process.versions.node });
  } finally {
    db.close();
  }
  return cached;
}
