// A separate process that commits transfers as fast as it can until told to stop on
// stdin, then prints one JSON line with the completion time of every commit.
import Database from 'better-sqlite3';

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
let stop = false;
process.stdin.on('data', () => {
  stop = true;
});

function burst(): void {
  // Commit in bursts and yield to the event loop so the stop message is seen.
  const until = performance.now() + 20;
  while (performance.now() < until) {
    const from = Math.floor(Math.random() * accounts);
    const to = Math.floor(Math.random() * accounts);
    transfer(from, to, 1 + Math.floor(Math.random() * 50));
    commits.push(performance.timeOrigin + performance.now());
    if (commits.length === 200) process.stdout.write('ready\n');
  }
  if (stop) {
    db.close();
    // Exit only once the (large) line is flushed: a pipe is written asynchronously.
    process.stdout.write(`${JSON.stringify({ commits })}\n`, () => process.exit(0));
    return;
  }
  setImmediate(burst);
}
burst();
