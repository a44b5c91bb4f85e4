import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

/**
 * The SQLite driver for this Node version. better-sqlite3 12 (the last line that runs on
 * Node 20) wraps its objects with node::ObjectWrap, whose destructor aborts Node 24.19+
 * during garbage collection ("Assertion failed: (env) != nullptr", WiseLibs/better-sqlite3
 * #1515) — seen here in the test suite. better-sqlite3 13 moved to Node-API and is safe on
 * Node 24, but needs Node >= 22. So both are installed (13 under the alias
 * `better-sqlite3-napi`) and the right one is loaded; the API is the same.
 * Every connection Lifeboat opens, the worker thread's included, takes it from here.
 */
export const SQLITE_DRIVER =
  Number(process.versions.node.split('.')[0]) >= 22 ? 'better-sqlite3-napi' : 'better-sqlite3';

const Database = createRequire(import.meta.url)(SQLITE_DRIVER) as typeof BetterSqlite3;

export default Database;
