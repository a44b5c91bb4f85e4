// An application connection opened before a restore's swap and used after it: opens the
// database, says "opened", waits for a line on stdin, then switches to WAL and inserts one row
// (waiting up to 5 s for locks). Prints "ok" when the commit returned, "refused <code>" otherwise.
import { once } from 'node:events';
import Database from '../../src/sqlite/driver.js';

const [dbFile, row] = process.argv.slice(2);
const db = new Database(dbFile!, { timeout: 5000 });
process.stdout.write('opened\n');
await once(process.stdin, 'data');
try {
  db.pragma('journal_mode = WAL');
  db.prepare('INSERT INTO items (name) VALUES (?)').run(row);
  db.close();
  process.stdout.write('ok\n');
} catch (err) {
  process.stdout.write(`refused ${(err as { code?: string }).code ?? (err as Error).message}\n`);
}
process.exit(0); // stdin stays open
