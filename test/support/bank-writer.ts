// A separate process that commits transfers as fast as it can. A line `stop N` on stdin
// makes it commit N more times (a comparison window), then print one JSON line with the
// completion time of every commit and exit. Optional: every N commits run an application
// checkpoint (PRAGMA wal_checkpoint(PASSIVE)), and every M commits open a new, empty account
// (so the database grows while snapshots are taken; the total balance stays the same).
import Database from '../../src/sqlite/driver.js';

const [path, accountsArg, checkpointArg, growArg] = process.argv.slice(2);
const accounts = Number(accountsArg);
const checkpointEvery = Number(checkpointArg ?? 0);
const growEvery = Number(growArg ?? 0);
const db = new Database(path!, { timeout: 30_000 });
db.pragma('synchronous = NORMAL');
const debit = db.prepare('UPDATE accounts SET balance = balance - ? WHERE id = ?');
const credit = db.prepare('UPDATE accounts SET balance = balance + ? WHERE id = ?');
const open = db.prepare('INSERT INTO accounts (balance, pad) VALUES (0, randomblob(1500))');
const transfer = db.transaction((from: number, to: number, amount: number) => {
  debit.run(amount, from);
  credit.run(amount, to);
});

const commits: number[] = [];
let stopAt = Infinity;
process.stdin.setEncoding('utf8').on('data', (line: string) => {
  const more = Number(/stop (\d+)/.exec(line)?.[1] ?? 0);
  stopAt = commits.length + more;
});

function burst(): void {
  // Commit in bursts and yield to the event loop so the stop message is seen.
  const until = performance.now() + 20;
  while (performance.now() < until && commits.length < stopAt) {
    const from = Math.floor(Math.random() * accounts);
    const to = Math.floor(Math.random() * accounts);
    transfer(from, to, 1 + Math.floor(Math.random() * 50));
    if (growEvery > 0 && commits.length % growEvery === 0) open.run();
    commits.push(performance.timeOrigin + performance.now());
    if (checkpointEvery > 0 && commits.length % checkpointEvery === 0) db.pragma('wal_checkpoint(PASSIVE)');
    if (commits.length === 200) process.stdout.write('ready\n');
  }
  if (commits.length >= stopAt) {
    db.close();
    // End by running out of work, not with process.exit(): on Node 24, exiting while
    // prepared statements still await garbage collection trips an assertion in the addon.
    process.stdin.destroy();
    process.stdout.write(`${JSON.stringify({ commits })}\n`);
    return;
  }
  setImmediate(burst);
}
burst();
