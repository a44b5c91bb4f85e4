import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import Database from '../../src/sqlite/driver.js';

/**
 * A new database at `path` in WAL mode with `schema`, closed again: the last close deletes the
 * WAL, so the next opener starts with none, as after a clean restart.
 */
export function createWalDb(path: string, schema: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(schema);
  db.close();
}

/** A small real database in WAL mode with `rows` rows in table `items`. */
export function createItemsDb(path: string, rows: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, body BLOB)');
  const insert = db.prepare('INSERT INTO items (name, body) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`item-${i}`, Buffer.alloc(200, i % 251));
  })();
  db.close();
}

/**
 * The bytes in `path`'s WAL, 0 when it has none. A reader of a database in WAL mode leaves an
 * empty one behind, so "no WAL of the old database here" is: nothing in it.
 */
export function walBytes(path: string): number {
  return statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0;
}

/** The names in `items`, in id order, of a database that must be sound (not mixed from two by an old WAL). */
export function itemNames(path: string): string[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok', `${path} is sound`);
    return db.prepare('SELECT name FROM items ORDER BY id').pluck().all() as string[];
  } finally {
    db.close();
  }
}

export function countItems(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/**
 * A database whose index `t_b` does not match its table: built as an index on `b`, then its
 * schema rewritten to say it indexes `a`. `PRAGMA quick_check` does not compare an index with
 * its table and passes; `PRAGMA integrity_check` reports `row N missing from index t_b`.
 * `padBytes` per row sets the size.
 */
export function createIndexMismatchDb(path: string, rows: number, padBytes = 100): void {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (a INTEGER, b INTEGER, pad BLOB); CREATE INDEX t_b ON t (b)');
    const insert = db.prepare('INSERT INTO t (a, b, pad) VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < rows; i++) insert.run(i, rows - i, Buffer.alloc(padBytes, i % 251));
    })();
    // better-sqlite3 turns on SQLite's defensive mode, which forbids writing the schema; unsafe mode lifts it.
    db.unsafeMode(true);
    db.pragma('writable_schema = ON');
    db.prepare("UPDATE sqlite_schema SET sql = 'CREATE INDEX t_b ON t (a)' WHERE name = 't_b'").run();
    db.pragma('writable_schema = OFF');
  } finally {
    db.close();
  }
}

/** The rows of `PRAGMA <check>` on a database, e.g. ['ok']. */
export function pragmaCheck(path: string, check: 'quick_check' | 'integrity_check'): string[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.pragma(`${check}(5)`) as Array<Record<string, unknown>>).map((r) => String(Object.values(r)[0]));
  } finally {
    db.close();
  }
}
