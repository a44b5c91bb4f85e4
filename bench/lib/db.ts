import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import Database from '../../src/sqlite/driver.js';

/**
 * A database of about `sizeMiB` MiB: a table of mixed rows, most small (a name and a few
 * numbers), every third with a ~1 KiB random blob; WAL mode, checkpointed at the end.
 */
export function buildDb(path: string, sizeMiB: number): number {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.exec(
    'CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, ' +
      'kind TEXT NOT NULL, at INTEGER NOT NULL, amount REAL, payload BLOB)',
  );
  db.exec('CREATE INDEX IF NOT EXISTS events_at ON events (at)');
  const insert = db.prepare('INSERT INTO events (kind, at, amount, payload) VALUES (?, ?, ?, ?)');
  const blob = randomBytes(1 << 20);
  const batch = db.transaction((n: number, base: number) => {
    for (let i = 0; i < n; i++) {
      const big = (base + i) % 3 === 0;
      const off = ((base + i) * 977) % (blob.length - 1100);
      insert.run(
        `kind-${(base + i) % 17}`,
        1_700_000_000 + base + i,
        (base + i) * 0.25,
        big ? blob.subarray(off, off + 1000 + ((base + i) % 100)) : null,
      );
    }
  });
  let rows = 0;
  const target = sizeMiB * 1024 * 1024;
  while (statSync(path).size < target) {
    batch(20_000, rows);
    rows += 20_000;
    db.pragma('wal_checkpoint(TRUNCATE)');
  }
  db.close();
  return rows;
}
