import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from '../../src/sqlite/driver.js';
import { walBytes } from '../support/db.js';
import { tempDir } from '../support/tmp.js';

// A child process runs a real restore and is SIGKILLed at an injected step
// (LIFEBOAT_TEST_CRASH_AT, read by test/support/restore-child.ts, which passes an onStep hook); then it is
// run again, as the next start would. After every run the database must be the complete old
// one (before the rename) or the complete new one (from the rename on): never missing, mixed or corrupt.

const CHILD = fileURLToPath(new URL('../support/restore-child.ts', import.meta.url));
const STEPS = [
  'during-materialise',
  'after-materialise',
  'after-validate',
  'after-settle',
  'after-intent',
  'after-keep-old',
  'after-rename',
  'after-marker',
];
const OLD = 'old-0,old-1,old-2,old-3,old-wal';
const NEW = 'new-0,new-1';

/** 'old', 'new', or a description of anything else (missing, mixed, corrupt). */
function stateOf(dbFile: string): string {
  if (!existsSync(dbFile)) return 'missing';
  try {
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    try {
      const ok = db.pragma('integrity_check', { simple: true });
      const names = (db.prepare('SELECT name FROM items ORDER BY id').pluck().all() as string[]).join(',');
      if (ok !== 'ok') return `corrupt: ${ok}`;
      if (names === OLD) return 'old';
      if (names === NEW) return 'new';
      return `mixed: ${names}`;
    } finally {
      db.close();
    }
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
}

/** The live database: four rows in the main file and one only in its WAL, as a crashed app leaves it. */
function makeLiveDb(dbFile: string): void {
  const db = new Database(dbFile);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
  for (const n of OLD.split(',').slice(0, 4)) db.prepare('INSERT INTO items (name) VALUES (?)').run(n);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.pragma('wal_autocheckpoint = 0');
  db.prepare('INSERT INTO items (name) VALUES (?)').run('old-wal');
  // Closing would fold the WAL in; copy both files while the connection is open instead.
  copyFileSync(dbFile, `${dbFile}.c`);
  copyFileSync(`${dbFile}-wal`, `${dbFile}-wal.c`);
  db.close();
  renameSync(`${dbFile}.c`, dbFile);
  renameSync(`${dbFile}-wal.c`, `${dbFile}-wal`);
}

/** The backup: two rows, plus padding so it streams in several chunks (for during-materialise). */
function makeBackup(path: string): void {
  const db = new Database(path);
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL); CREATE TABLE pad (b BLOB)');
  for (const n of NEW.split(',')) db.prepare('INSERT INTO items (name) VALUES (?)').run(n);
  db.prepare('INSERT INTO pad VALUES (?)').run(Buffer.alloc(400_000, 7));
  db.close();
}

function setup() {
  const dir = tempDir();
  const dbDir = join(dir, 'db');
  mkdirSync(dbDir);
  const dbFile = join(dbDir, 'hiqlite.db');
  makeLiveDb(dbFile);
  assert.ok(existsSync(`${dbFile}-wal`));
  assert.equal(stateOf(dbFile), 'old');
  const backup = join(dir, 'backup.sqlite');
  makeBackup(backup);
  return { dbDir, dbFile, backup };
}

function run(dbFile: string, backup: string, crashAt: string) {
  return spawnSync(process.execPath, ['--import', 'tsx', CHILD, dbFile, `file:${backup}`], {
    env: { ...process.env, LIFEBOAT_TEST_CRASH_AT: crashAt },
    encoding: 'utf8',
  });
}

function crashAt(dbFile: string, backup: string, step: string): void {
  const crashed = run(dbFile, backup, step);
  assert.equal(
    crashed.signal,
    'SIGKILL',
    `the child did not reach ${step}: status ${crashed.status} ${crashed.stderr}`,
  );
  // Exactly: the old database up to the rename, the new one from the rename on.
  const expected = STEPS.indexOf(step) >= STEPS.indexOf('after-rename') ? 'new' : 'old';
  assert.equal(stateOf(dbFile), expected, `after a crash ${step}`);
}

function assertCompleted(dbDir: string, dbFile: string, backup: string): void {
  assert.equal(walBytes(dbFile), 0, 'no old WAL beside the new database');
  assert.equal(stateOf(dbFile), 'new', 'a restart completes the restore');
  const files = readdirSync(dbDir);
  const aside = files.filter((f) => f.includes('before-restore') && !/-(wal|shm|journal)$/.test(f));
  assert.equal(aside.length, 1, `the old database is kept aside: ${files.join(', ')}`);
  assert.equal(stateOf(join(dbDir, aside[0]!)), 'old', 'the kept old database is complete, its WAL included');
  assert.deepEqual(
    files.filter((f) => f.includes('intent') || f.startsWith('.lifeboat-tmp')),
    [],
    'no intent or temp files are left',
  );
  const marker = JSON.parse(readFileSync(`${dbFile}.lifeboat-restore.json`, 'utf8')) as {
    source: string;
    movedAside: string[];
  };
  assert.equal(marker.source, `file:${backup}`);
  assert.equal(marker.movedAside[0], join(dbDir, aside[0]!));
}

for (const step of STEPS) {
  const outcome = 'the database is the complete old one or the complete new one, and a restart completes it';
  test(`killed ${step}: ${outcome}`, () => {
    const { dbDir, dbFile, backup } = setup();
    crashAt(dbFile, backup, step);
    if (step === 'during-materialise' || step === 'after-materialise') {
      assert.equal(
        readdirSync(dbDir).filter((f) => f.startsWith('.lifeboat-tmp-')).length,
        1,
        'the crash left a temp copy for the restart to remove',
      );
    }
    const restarted = run(dbFile, backup, '');
    assert.equal(restarted.status, 0, restarted.stderr);
    // Before the intent was durable the restart restores afresh; after it, it completes the swap.
    const swapBegun = STEPS.indexOf(step) >= STEPS.indexOf('after-intent');
    assert.deepEqual(JSON.parse(restarted.stdout), { applied: !swapBegun, completedInterrupted: swapBegun });
    assertCompleted(dbDir, dbFile, backup);
  });
}

// The completion itself can be interrupted too: crash in the restore, crash again in the recovery.
for (const [first, second] of [
  ['after-intent', 'after-keep-old'],
  ['after-keep-old', 'after-rename'],
  ['after-keep-old', 'after-marker'],
  ['after-rename', 'after-marker'],
] as const) {
  const outcome = 'still old or new, and the third start completes it';
  test(`killed ${first}, then killed ${second} while completing it: ${outcome}`, () => {
    const { dbDir, dbFile, backup } = setup();
    crashAt(dbFile, backup, first);
    crashAt(dbFile, backup, second);
    const third = run(dbFile, backup, '');
    assert.equal(third.status, 0, third.stderr);
    assert.deepEqual(
      JSON.parse(third.stdout),
      { applied: false, completedInterrupted: true },
      'the completed restore is not applied a second time',
    );
    assertCompleted(dbDir, dbFile, backup);
  });
}

test('a database that something else put in place after the crash is not overwritten by the completion', () => {
  const { dbDir, dbFile, backup } = setup();
  crashAt(dbFile, backup, 'after-keep-old');
  // Someone replaces the live file before the next start (e.g. copies a database in by hand).
  const stranger = join(dbDir, 'stranger.db');
  makeBackup(stranger);
  const strangerBytes = readFileSync(stranger);
  renameSync(stranger, dbFile);
  const restarted = run(dbFile, backup, '');
  assert.equal(restarted.status, 1);
  assert.match(restarted.stderr, /RESTORE_CONFLICT/);
  assert.match(
    restarted.stderr,
    /was not completed, because .*hiqlite\.db was replaced by another file after it began/,
  );
  assert.ok(
    readdirSync(dbDir).some((f) => f.endsWith('.lifeboat-restore-intent.json')),
    'the intent stays for the operator',
  );
  assert.ok(readFileSync(dbFile).equals(strangerBytes), 'the file put there is untouched');
});

/** One column of a query, with the connection closed again (an open one would make the restore refuse). */
function readColumn(file: string, sql: string): unknown[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).pluck().all();
  } finally {
    db.close();
  }
}

/** What the application writes when it runs again after the crash, before Lifeboat's next start. */
function appWrites(dbFile: string, rows: number): void {
  const db = new Database(dbFile);
  db.pragma('journal_mode = WAL');
  for (let i = 0; i < rows; i++) db.prepare('INSERT INTO items (name) VALUES (?)').run(`app-after-crash-${i}`);
  db.close();
}

const writesKept =
  'writes made between the crash and the next start are never discarded: both are kept, and it says so';
for (const step of ['after-settle', 'after-intent', 'after-keep-old'] as const) {
  test(`killed ${step}, then the application wrote: ${writesKept}`, () => {
    const { dbDir, dbFile, backup } = setup();
    crashAt(dbFile, backup, step);
    appWrites(dbFile, 300);
    const names = () => readColumn(dbFile, 'SELECT name FROM items') as string[];
    const before = names();
    assert.equal(before.filter((n) => n.startsWith('app-after-crash-')).length, 300);
    const restarted = run(dbFile, backup, '');
    if (step === 'after-settle') {
      // No intent yet: the restart restores afresh, and the old database with the new rows is kept aside.
      assert.equal(restarted.status, 0, restarted.stderr);
      const aside = readdirSync(dbDir).find((f) => f.includes('before-restore') && !/-(wal|shm|journal)$/.test(f));
      assert.ok(aside, 'the previous database is kept');
      const kept = readColumn(join(dbDir, aside), 'SELECT count(*) FROM items');
      assert.deepEqual(kept, [305], 'with every row the application wrote');
      return;
    }
    assert.equal(restarted.status, 1, 'the start is refused');
    assert.match(restarted.stderr, /RESTORE_CONFLICT/);
    assert.match(restarted.stderr, /was not completed, because .*hiqlite\.db was written to .*discard those writes/);
    assert.deepEqual(names(), before, 'the live database, with the writes, is untouched');
    const files = readdirSync(dbDir);
    assert.ok(
      files.some((f) => f.endsWith('.lifeboat-restore-intent.json')),
      'the intent stays for the operator',
    );
    assert.ok(
      files.some((f) => f.startsWith('.lifeboat-tmp-hiqlite.db.')),
      'the validated backup copy is kept',
    );
    // Every start refuses the same way until the operator decides.
    assert.equal(run(dbFile, backup, '').status, 1);
    assert.deepEqual(names(), before);
  });
}
