// A separate process that commits transfers as fast as it can. A line `stop N` on stdin
// makes it commit N more times (a comparison window), then print one JSON line with the
// completion time of every commit and exit.
import Database from '../../src/sqlite/driver.js';

const [path, accountsArg] = process.argv.slice(2);
const accounts = Number(accountsArg);
const db = new Database(path!, { timeout: 30_000 });
db.pragma('synchronous = NORMAL');
const debit = db.prepare('UPDATE accounts SET balance = balance - ? WHERE id = ?');
const credit = db.prepare('UPDATE accounts SET balance = balance + ? WHERE id = ?');
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
    commits.push(performance.timeOrigin + performance.now());
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
