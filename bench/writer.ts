// A writer process for the latency benchmark: one small transaction per commit, as fast as
// it can; records each commit's latency into the window named on stdin (`mark idle`,
// `mark busy`), and prints {idle:[ms...], busy:[ms...]} on `stop`.
import Database from '../src/sqlite/driver.js';

const db = new Database(process.argv[2]!, { timeout: 30_000 });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec('CREATE TABLE IF NOT EXISTS counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
db.prepare('INSERT OR IGNORE INTO counters (id, n) VALUES (1, 0)').run();
const bump = db.prepare('UPDATE counters SET n = n + 1 WHERE id = 1');
const windows: Record<string, number[]> = { idle: [], busy: [] };
let current: string | undefined;
let stop = false;
process.stdin.setEncoding('utf8').on('data', (text: string) => {
  for (const line of text.split('\n')) {
    if (line.startsWith('mark ')) current = line.slice(5).trim();
    if (line.startsWith('stop')) stop = true;
  }
});
process.stdout.write('ready\n');
function burst(): void {
  const until = performance.now() + 10;
  while (performance.now() < until) {
    const t0 = performance.now();
    bump.run();
    const ms = performance.now() - t0;
    if (current) windows[current]!.push(ms);
  }
  if (stop) {
    db.close();
    process.stdin.destroy(); // end by running out of work (see test/support/bank-writer.ts)
    process.stdout.write(`${JSON.stringify(windows)}\n`);
    return;
  }
  setImmediate(burst);
}
burst();
