import Database from '../../src/sqlite/driver.js';

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

export function countItems(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n;
  } finally {
    db.close();
  }
}
