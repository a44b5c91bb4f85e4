import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import { assertSafeSqlite, walResetBugProblem } from '../../src/pitr/sqlite-version.js';
import Database from '../../src/sqlite/driver.js';

// true = continuous mode may run. The spec's rows (§5 "version gate") plus the edges around them.
const TABLE: readonly (readonly [string, boolean])[] = [
  ['3.44.5', false],
  ['3.44.6', true],
  ['3.44.9', true],
  ['3.45.0', false],
  ['3.50.6', false],
  ['3.50.7', true],
  ['3.51.0', false],
  ['3.51.2', false],
  ['3.51.3', true],
  ['3.51.10', true],
  ['3.52.0', false],
  ['3.52.1', true],
  ['3.53.0', true],
  ['3.53.2', true],
  ['3.60.0', true],
  ['4.0.0', true],
  ['3.7.0', false],
  ['3.7.17', false],
  ['3.8.10.2', false],
  ['3.43.0', false],
  ['3.6.23', false],
  ['2.8.17', false],
];

test('version gate: affected 3.7.0-3.51.2 and 3.52.0, fixed 3.44.6+, 3.50.7+, 3.51.3+', () => {
  for (const [version, safe] of TABLE) {
    assert.equal(walResetBugProblem(version) === undefined, safe, version);
    if (safe) assert.doesNotThrow(() => assertSafeSqlite(version), version);
  }
  assert.match(walResetBugProblem('3.52.0')!, /withdrawn/);
  assert.match(walResetBugProblem('3.51.2')!, /has the WAL-reset bug/);
});

test('before 3.7.0 there is no WAL: refused with that reason, not the bug', () => {
  for (const v of ['3.6.23', '3.6.0', '2.8.17']) {
    const problem = walResetBugProblem(v)!;
    assert.match(problem, /has no WAL mode \(added in 3\.7\.0\)/, v);
    assert.doesNotMatch(problem, /WAL-reset bug/, v);
  }
});

test('a string that is no version is refused, never guessed safe', () => {
  for (const v of ['', '3', '3.53', 'v3.53.2', '3.53.2-beta', '3.53.x', ' ', 'latest', '3.53.2.1.1']) {
    assert.match(walResetBugProblem(v)!, /cannot tell/, JSON.stringify(v));
  }
});

test('PITR_SQLITE_WAL_RESET_BUG names the version, whose SQLite, the fixed versions and the remedy', () => {
  let caught: unknown;
  try {
    assertSafeSqlite('3.51.2', "the application's SQLite");
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof LifeboatError);
  assert.equal(caught.code, 'PITR_SQLITE_WAL_RESET_BUG');
  assert.match(caught.message, /the application's SQLite: SQLite 3\.51\.2 has the WAL-reset bug/);
  assert.match(caught.message, /3\.51\.3 or later \(not 3\.52\.0\), 3\.50\.7\+ within 3\.50\.x, or 3\.44\.6\+/);
  assert.match(caught.hint!, /better-sqlite3 to 12\.8\.0 or later/);
  assert.match(caught.hint!, /snapshot backups keep running/);
});

test("the SQLite of Lifeboat's own driver passes the gate", () => {
  const db = new Database(':memory:');
  try {
    const { v } = db.prepare('SELECT sqlite_version() AS v').get() as { v: string };
    assert.match(v, /^3\.\d+\.\d+$/);
    assert.equal(walResetBugProblem(v), undefined, `bundled SQLite ${v}`);
    assertSafeSqlite(v);
  } finally {
    db.close();
  }
});
