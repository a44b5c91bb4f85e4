// An application that is nearly always inside a write transaction: BEGIN IMMEDIATE, a few rows,
// then it keeps the transaction open for `holdMs` before COMMIT, and lets the write lock go for
// only `gapMs` before the next one. A checkpoint cycle that tries the lock once, right after a
// commit it has read, lands inside the next transaction every time. Prints `committed <n>` after
// each commit; stops after the transaction in progress when "stop" arrives on stdin.
import { createInterface } from 'node:readline';
import Database from '../../src/sqlite/driver.js';

const [dbFile, holdMs, gapMs] = process.argv.slice(2);
let stopping = false;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'stop') stopping = true;
});
const db = new Database(dbFile!, { timeout: 5000 });
db.pragma('journal_mode = WAL');
const insert = db.prepare('INSERT INTO t (v, pad) VALUES (?, randomblob(3000))');
const pause = new Int32Array(new SharedArrayBuffer(4));
let v = 0;
for (let n = 1; !stopping; n++) {
  db.exec('BEGIN IMMEDIATE');
  for (let i = 0; i < 4; i++) insert.run(++v);
  Atomics.wait(pause, 0, 0, Number(holdMs)); // the write lock stays taken meanwhile
  db.exec('COMMIT');
  process.stdout.write(`committed ${n} ${v}\n`);
  Atomics.wait(pause, 0, 0, Number(gapMs));
  await new Promise((resolve) => setImmediate(resolve)); // reads "stop"
}
db.close();
process.stdout.write('stopped\n');
