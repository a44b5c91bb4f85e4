// An application that opens its database for every transaction (as many small services and
// scripts do): open, WAL, insert one numbered row, close; again and again until "stop" arrives
// on stdin. Prints "ok <n>" for every row whose commit returned, so a test knows exactly what
// was committed; a refused transaction prints "refused <code>" and is not counted.
import { createInterface } from 'node:readline';
import Database from '../../src/sqlite/driver.js';

const [dbFile] = process.argv.slice(2);
let stopping = false;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'stop') stopping = true;
});

let n = 0;
while (!stopping) {
  n++;
  try {
    const db = new Database(dbFile!, { timeout: 5000 });
    try {
      db.pragma('journal_mode = WAL');
      db.prepare('INSERT INTO items (name) VALUES (?)').run(`app-${n}`);
    } finally {
      db.close();
    }
    process.stdout.write(`ok ${n}\n`);
  } catch (err) {
    process.stdout.write(`refused ${(err as { code?: string }).code ?? (err as Error).message}\n`);
  }
  await new Promise((resolve) => setImmediate(resolve));
}
process.stdout.write('stopped\n');
process.exit(0); // stdin stays open: readline would keep the process alive
