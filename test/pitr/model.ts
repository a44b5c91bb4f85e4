import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from '../../src/sqlite/driver.js';

/**
 * The model of test/support/model-writer.ts, for continuous-backup tests: what the database
 * holds after commit k, what a restored file holds, and the processes (writer, capture) the
 * tests drive line by line.
 */

export interface Rows {
  readonly count: number;
  readonly sum: number;
  /** The highest k: the application's commit this state is after. */
  readonly last: number;
  readonly check: string;
}

/** The rows after commit k: k inserted, and every 10th commit prunes multiples of 3 up to 50 back. */
export function modelAfter(k: number): Rows {
  const prunedTo = Math.floor(k / 10) * 10 - 50;
  let count = 0;
  let sum = 0;
  for (let i = 1; i <= k; i++) {
    if (i % 3 === 0 && i <= prunedTo) continue;
    count++;
    sum += i;
  }
  return { count, sum, last: k, check: 'ok' };
}

export function rowsOf(path: string): Rows {
  const db = new Database(path, { readonly: true });
  try {
    const row = db
      .prepare('SELECT count(*) AS count, coalesce(sum(k), 0) AS sum, coalesce(max(k), 0) AS last FROM log')
      .get() as Omit<Rows, 'check'>;
    return { ...row, check: String(db.pragma('integrity_check', { simple: true })) };
  } finally {
    db.close();
  }
}

export interface LineProcess {
  readonly child: ChildProcess;
  /** The next line it prints. */
  line(): Promise<string>;
  send(line: string): void;
}

/**
 * A test-support script in a process of its own, read line by line. Through tsx, or — when
 * LIFEBOAT_TEST_COMPILED names a compiled tree (the soak's, see bench/lib/build.ts) — as plain
 * JavaScript, which starts several times faster.
 */
export function spawnScript(script: string, args: readonly string[]): LineProcess {
  const compiled = process.env.LIFEBOAT_TEST_COMPILED;
  const entry = compiled
    ? ['--no-warnings', join(compiled, 'test', 'support', script.replace(/\.ts$/, '.js'))]
    : ['--import', 'tsx', join(import.meta.dirname, '../support', script)];
  const child = spawn(process.execPath, [...entry, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    child,
    line: async () => {
      const next = await lines.next();
      if (next.done) throw new Error(`${script} exited (${child.exitCode ?? child.signalCode}) before printing a line`);
      return String(next.value);
    },
    send: (line) => child.stdin!.write(`${line}\n`),
  };
}

/**
 * The application: prints `ready` after `readyAt` commits, goes on at `go`, ends with `done <k>`;
 * with `report`, prints `at <k> <ms>` as its commits return.
 */
export function startWriter(
  path: string,
  total: number,
  readyAt: number,
  pauseMs = 4,
  report = false,
  checkpointFrames = 40,
): LineProcess {
  const args = [
    path,
    String(total),
    String(readyAt),
    String(checkpointFrames),
    String(pauseMs),
    report ? 'report' : '',
  ];
  return spawnScript('model-writer.ts', args);
}
