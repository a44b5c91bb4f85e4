import Database from '../../src/sqlite/driver.js';

/**
 * A database with an invariant a concurrent writer keeps: money moves between accounts in
 * transactions, so SUM(balance) is constant in every consistent snapshot.
 */
export const START_BALANCE = 1000;

export function createBank(path: string, accounts: number, padBytes = 1000): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, pad BLOB NOT NULL)');
  const insert = db.prepare('INSERT INTO accounts (id, balance, pad) VALUES (?, ?, ?)');
  const pad = Buffer.alloc(padBytes, 0x5a);
  const fill = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) insert.run(i, START_BALANCE, pad);
  });
  for (let i = 0; i < accounts; i += 10_000) fill(i, Math.min(accounts, i + 10_000));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

export function bankTotals(path: string): { accounts: number; total: number } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT count(*) AS accounts, sum(balance) AS total FROM accounts').get() as {
      accounts: number;
      total: number;
    };
    return row;
  } finally {
    db.close();
  }
}
