import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import { lockOwner } from '../../src/fs/lock.js';
import { Lifeboat } from '../../src/index.js';
import { countItems, createItemsDb } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { backupFiles } from '../support/folder.js';
import { tempDir } from '../support/tmp.js';

const embeddedCreatesDatabase =
  'embedded: creates the database in WAL mode, hands out the handle, backs up at once, then on schedule';
test(embeddedCreatesDatabase, async () => {
  const cwd = tempDir();
  const clock = new FakeClock('2026-11-24T02:29:00Z');
  const lb = await Lifeboat.open({ cwd, env: { HQL_BACKUP_CRON_TZ: 'UTC' }, clock });
  try {
    assert.equal(lb.mode, 'embedded');
    assert.equal(lb.dbFile, join(cwd, 'data', 'state_machine', 'db', 'hiqlite.db'));
    assert.equal(lb.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(lb.nextBackupAt()?.toISOString(), '2026-11-24T02:30:00.000Z');
    await lb.whenStarted();
    const first = await lb.list();
    assert.equal(first.local.length, 1, 'the first backup is taken at start');
    assert.equal(first.remote, undefined);

    lb.db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, body BLOB)');
    lb.db.prepare('INSERT INTO items (name) VALUES (?)').run('after-start');
    // The scheduled run at 02:30 (fake clock), which must include that write.
    const wake = await clock.nextSleep();
    assert.equal(wake.toISOString(), '2026-11-24T02:30:00.000Z');
    clock.advanceTo(wake);
    await clock.nextSleep(); // the scheduler sleeps again once the run is done
    const after = await lb.list();
    assert.equal(after.local.length, 2);
    const newest = after.local[0]!;
    assert.equal(newest.name, `backup_node_1_${Date.parse('2026-11-24T02:30:00Z') / 1000}.sqlite`);
    assert.equal(countItems(join(lb.local.dir, newest.name)), 1);
    assert.equal(lb.status().lastBackup?.name, newest.name);

    // On demand, and a second open of the same database is refused.
    await assert.rejects(
      Lifeboat.open({ cwd, env: {}, clock }),
      (err: unknown) => err instanceof LifeboatError && err.code === 'LOCKED',
    );
  } finally {
    await lb.close();
  }
  await lb.close(); // idempotent
  assert.equal(await lockOwner(`${lb.dbFile}.lifeboat.lock`), undefined, 'the lock is released');
  await assert.rejects(lb.backup(), (err: unknown) => err instanceof LifeboatError && err.code === 'CLOSED');
});

const waits = 'sidecar with waitForDatabase: waits (on the clock) for the database to appear; a signal ends the wait';
test(waits, async () => {
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  const clock = new FakeClock('2026-11-24T10:00:00Z');
  const opening = Lifeboat.open({
    cwd,
    env: {},
    dbPath: db,
    schedule: false,
    backupOnStart: 'never',
    clock,
    waitForDatabase: true,
  });
  // It sleeps a second at a time until the file exists, instead of failing (a crash loop in a pod).
  assert.equal((await clock.nextSleep()).getTime(), Date.parse('2026-11-24T10:00:01Z'));
  clock.advance(1000);
  await clock.nextSleep();
  createItemsDb(db, 5);
  clock.advance(1000);
  const lb = await opening;
  await lb.close();
  // Stopped while waiting: ABORTED, and the lock is released.
  const gone = join(cwd, 'gone.db');
  const stop = new AbortController();
  const waiting = Lifeboat.open({
    cwd,
    env: {},
    dbPath: gone,
    schedule: false,
    clock,
    waitForDatabase: true,
    signal: stop.signal,
  });
  await clock.nextSleep();
  stop.abort();
  await assert.rejects(waiting, (err: unknown) => err instanceof LifeboatError && err.code === 'ABORTED');
  assert.equal(await lockOwner(`${gone}.lifeboat.lock`), undefined);
});

test('sidecar: backs up an existing database another process owns; a missing one is an error', async () => {
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  await assert.rejects(
    Lifeboat.open({ cwd, env: {}, dbPath: db, schedule: false }),
    (err: unknown) => err instanceof LifeboatError && err.code === 'DB_MISSING',
  );
  createItemsDb(db, 50);
  // A clock that stands still: both on-demand backups start in the same second.
  const clock = new FakeClock('2026-11-24T10:00:00Z');
  const lb = await Lifeboat.open({ cwd, env: {}, dbPath: db, schedule: false, backupOnStart: 'never', clock });
  try {
    assert.throws(
      () => lb.db,
      (err: unknown) => err instanceof LifeboatError && err.code === 'NO_HANDLE',
    );
    // Two on-demand backups in the same second: serialised, the second waits for the next second's name.
    const both = Promise.all([lb.backup(), lb.backup()]);
    clock.advanceTo(await clock.nextSleep());
    const [a, b] = await both;
    assert.equal(countItems(a.path), 50);
    assert.equal(countItems(b.path), 50);
    assert.equal(b.startedAt.getTime(), Date.parse('2026-11-24T10:00:01Z'));
    assert.deepEqual(backupFiles(lb.local.dir).sort(), [a.name, b.name].sort());
  } finally {
    await lb.close();
  }
});

test('an invalid configuration fails open() with every problem and creates nothing', async () => {
  const cwd = tempDir();
  await assert.rejects(
    Lifeboat.open({ cwd, env: { HQL_BACKUP_CRON: 'every day', HQL_NODE_ID: 'x' } }),
    (err: unknown) =>
      err instanceof LifeboatError &&
      err.exitCode === 2 &&
      /HQL_BACKUP_CRON/.test(err.message) &&
      /HQL_NODE_ID/.test(err.message),
  );
  assert.deepEqual(readdirSync(cwd), []);
});
