// A separate application process for continuous-backup tests: commit k (k = 1…N) inserts row k
// and, every 10th commit, deletes some older rows — so the state after commit k is a known
// function of k (see modelAfter in the tests). Its connection checkpoints automatically every
// few frames, as an application does, so the WAL is checkpointed and restarts while capture
// reads it. It prints `ready` after `readyAt` commits and waits for a line on stdin; then it
// commits up to N — or until a line `stop` — and prints `done <last k>`. Started on a database
// it wrote before (after a kill), it goes on from the highest k there. A line `to <k>` instead
// commits up to k, prints `paused <k>` and waits for the next line, so a test can act at a known
// point between commits (nothing else runs in the writer then). With `report` it prints
// `at <k> <unix ms>` after each burst of commits: k and everything before it have returned.
import { createInterface } from 'node:readline';
import Database from '../../src/sqlite/driver.js';

const [path, totalArg, readyArg, autocheckpointArg, pauseArg, reportArg] = process.argv.slice(2);
const total = Number(totalArg);
const readyAt = Number(readyArg ?? 0);
const pauseMs = Number(pauseArg ?? 4);
const report = reportArg === 'report';
const db = new Database(path!, { timeout: 30_000 });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma(`wal_autocheckpoint = ${Number(autocheckpointArg ?? 50)}`);
db.exec('CREATE TABLE IF NOT EXISTS log (k INTEGER PRIMARY KEY, pad BLOB)');
const insert = db.prepare('INSERT INTO log (k, pad) VALUES (?, randomblob(?))');
const prune = db.prepare('DELETE FROM log WHERE k <= ? AND k % 3 = 0');
const commit = db.transaction((k: number) => {
  insert.run(k, 200 + (k % 5) * 1500);
  if (k % 10 === 0) prune.run(k - 50);
});

let k = 1 + (db.prepare('SELECT coalesce(max(k), 0) AS k FROM log').get() as { k: number }).k;
let stopped = false;
let reporting = false;
/** Commits in small bursts a few milliseconds apart, as an application does under load. */
function run(until: number, then: () => void): void {
  for (let n = 0; n < 5 && k <= until && !stopped; n++) commit(k++);
  if (reporting) process.stdout.write(`at ${k - 1} ${Date.now()}\n`);
  if (k <= until && !stopped) setTimeout(() => run(until, then), pauseMs);
  else then();
}
const lines = createInterface({ input: process.stdin });
/** Waits for the next line: `to <k>` commits up to k and waits again; anything else runs to the end. */
function next(): void {
  lines.once('line', (line) => {
    const to = /^to (\d+)$/.exec(line.trim());
    if (to) {
      run(Number(to[1]), () => {
        process.stdout.write(`paused ${k - 1}\n`);
        next();
      });
      return;
    }
    reporting = report;
    lines.on('line', (more) => {
      if (more.trim() === 'stop') stopped = true;
    });
    run(total, () => {
      db.close();
      process.stdout.write(`done ${k - 1}\n`);
      process.exit(0);
    });
  });
}
run(readyAt, () => {
  process.stdout.write('ready\n');
  next();
});
