// The application's writer for the latency benchmark, in its own process like a real app:
// money moves between accounts (two UPDATEs in one transaction per commit, as
// test/support/bank-writer.ts does), WAL mode, synchronous=NORMAL (Hiqlite's settings),
// paced at a fixed rate (commits per second) rather than flat out, so the idle and the busy
// window see the same load and the WAL grows as it would under a busy application.
//
//   node --import tsx bench/writer.ts <db> <commits-per-second> [hold]
// stdin: `mark <window>` records each commit's duration into <window> from now on;
// `mark -` stops recording; `stop` prints {"windows": {name: {lat: [ms...], ends: [unix ms...], lateMs,
// seconds}}} and exits. `ends` is when each commit returned (performance.timeOrigin + now, so another
// process's clock compares). With `hold`, the writer stops after its warm-up (`ready`) until `go`;
// `pause` stops it again and prints `paused` once its last commit has returned (bench/pitr.ts
// starts capture between the two, so that commit n after `go` is transaction base + n).
import Database from '../src/sqlite/driver.js';

const [path, rateArg, holdArg] = process.argv.slice(2);
const hold = holdArg === 'hold';
const rate = Number(rateArg ?? 1000);
const ACCOUNTS = 10_000;
const db = new Database(path!, { timeout: 30_000 });
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec('CREATE TABLE IF NOT EXISTS bench_accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)');
if ((db.prepare('SELECT count(*) FROM bench_accounts').pluck().get() as number) === 0) {
  const insert = db.prepare('INSERT INTO bench_accounts (id, balance) VALUES (?, 1000)');
  db.transaction(() => {
    for (let i = 0; i < ACCOUNTS; i++) insert.run(i);
  })();
}
const debit = db.prepare('UPDATE bench_accounts SET balance = balance - ? WHERE id = ?');
const credit = db.prepare('UPDATE bench_accounts SET balance = balance + ? WHERE id = ?');
const transfer = db.transaction((from: number, to: number, amount: number) => {
  debit.run(amount, from);
  credit.run(amount, to);
});

interface Window {
  lat: number[];
  /** When each commit returned, unix ms with a fraction. */
  ends: number[];
  /** Worst delay of a commit behind its schedule (the writer itself starved of CPU), ms. */
  lateMs: number;
  start: number;
  end: number;
}
const windows: Record<string, Window> = {};
let current: Window | undefined;
let stopping = false;
let running = true;
let pauseAsked = false;
/** A tick is due (a timer is set): `go` must not start a second loop. */
let scheduled = false;
let finished = false;
let warm = 0;
process.stdin.setEncoding('utf8').on('data', (text: string) => {
  for (const line of text.split('\n')) {
    const mark = /^mark (\S+)/.exec(line);
    if (mark) {
      if (current) current.end = performance.now();
      current = mark[1] === '-' ? undefined : { lat: [], ends: [], lateMs: 0, start: performance.now(), end: 0 };
      if (current) windows[mark[1]!] = current;
    }
    if (line.startsWith('pause')) {
      running = false;
      pauseAsked = true;
    }
    if (line.startsWith('go') && !running) {
      running = true;
      next = performance.now();
    }
    if (line.startsWith('stop')) stopping = true;
  }
  if (!scheduled && !finished) tick();
});

const interval = 1000 / rate;
let next = performance.now();
function tick(): void {
  scheduled = false;
  while (running && !stopping && performance.now() >= next) {
    const late = performance.now() - next;
    const t0 = performance.now();
    transfer(
      Math.floor(Math.random() * ACCOUNTS),
      Math.floor(Math.random() * ACCOUNTS),
      1 + Math.floor(Math.random() * 50),
    );
    const t1 = performance.now();
    const ms = t1 - t0;
    if (current) {
      current.lat.push(ms);
      current.ends.push(Math.round((performance.timeOrigin + t1) * 100) / 100);
      if (late > current.lateMs) current.lateMs = late;
    }
    next += interval;
    if (++warm === 200) {
      process.stdout.write('ready\n');
      if (hold) running = false;
    }
  }
  if (stopping) {
    finished = true;
    if (current) current.end = performance.now();
    db.close();
    // End by running out of work, not with process.exit() (see test/support/bank-writer.ts).
    process.stdin.destroy();
    const out: Record<string, { lat: number[]; ends: number[]; lateMs: number; seconds: number }> = {};
    for (const [name, w] of Object.entries(windows))
      out[name] = { lat: w.lat, ends: w.ends, lateMs: w.lateMs, seconds: (w.end - w.start) / 1000 };
    process.stdout.write(`${JSON.stringify({ windows: out })}\n`);
    return;
  }
  if (!running) {
    if (pauseAsked) process.stdout.write('paused\n');
    pauseAsked = false;
    return; // `go` or `stop` calls tick again
  }
  // Sleep until the next commit is due (timers have ~1 ms granularity; late commits catch up).
  scheduled = true;
  setTimeout(tick, Math.max(1, next - performance.now()));
}
tick();
