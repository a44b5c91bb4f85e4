// A separate application process for continuous-backup tests: commit k (k = 1…N) inserts row k
// and, every 10th commit, deletes some older rows — so the state after commit k is a known
// function of k (modelAfter). Its connection checkpoints automatically every few frames, as an
// application does, so the WAL is checkpointed and restarts while capture reads it. It prints
// `ready` after `readyAt` commits, then waits for a line on stdin before going on to N.
import Database from '../../src/sqlite/driver.js';

const [path, totalArg, readyArg, autocheckpointArg] = process.argv.slice(2);
const total = Number(totalArg);
const readyAt = Number(readyArg ?? 0);
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

let k = 1;
/** Commits in small bursts a few milliseconds apart (about 1,000 a second), as an application does under load. */
function run(until: number, then: () => void): void {
  for (let n = 0; n < 5 && k <= until; n++) commit(k++);
  if (k <= until) setTimeout(() => run(until, then), 4);
  else then();
}
run(readyAt, () => {
  process.stdout.write('ready\n');
  process.stdin.once('data', () =>
    run(total, () => {
      db.close();
      process.stdout.write('done\n');
      process.exit(0);
    }),
  );
});
