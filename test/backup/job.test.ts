import assert from 'node:assert/strict';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type BackupPlan, runBackup } from '../../src/backup/job.js';
import { backupName } from '../../src/backup/naming.js';
import { BACKUP_LOCK } from '../../src/compose.js';
import { LifeboatError } from '../../src/errors.js';
import { acquireLock, lockOwner } from '../../src/fs/lock.js';
import { countItems, createItemsDb } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { backupFiles } from '../support/folder.js';
import { testPlan } from '../support/plan.js';
import { tempDir } from '../support/tmp.js';

/** The folder's entries but the lock file, which stays between runs (empty, not held). */
const withoutLock = backupFiles;

const NOW = new Date('2026-11-24T02:30:00.400Z');
const NOW_S = Math.floor(NOW.getTime() / 1000);

function setup(rows = 500): { dir: string; db: string; backups: string; options: BackupPlan } {
  const dir = tempDir();
  const db = join(dir, 'app.db');
  createItemsDb(db, rows);
  const backups = join(dir, 'state_machine', 'backups');
  const options = testPlan(db, backups, { nodeId: 7, clock: new FakeClock(NOW) });
  return { dir, db, backups, options };
}

test('a run writes a verified, private backup named after node id and start time', async () => {
  const { db, backups, options } = setup();
  const report = await runBackup(options);
  assert.equal(report.name, `backup_node_7_${NOW_S}.sqlite`);
  assert.equal(report.path, join(backups, report.name));
  assert.equal(countItems(report.path), 500);
  assert.equal(report.bytes, statSync(report.path).size);
  assert.equal(statSync(report.path).mode & 0o777, 0o600);
  assert.equal(statSync(backups).mode & 0o777, 0o700);
  assert.equal(report.sourceJournalMode, 'wal');
  assert.equal(report.remote, undefined);
  // Nothing else is left in the folder: no temp file, no journal; the lock file stays, free.
  assert.deepEqual(readdirSync(backups).sort(), [BACKUP_LOCK, '.lifeboat-db.json', report.name]);
  assert.equal(await lockOwner(join(backups, BACKUP_LOCK)), undefined);
  // The backup is a standalone rollback-journal file, not a WAL one.
  const header = Buffer.alloc(20);
  const fd = openSync(report.path, 'r');
  try {
    assert.equal(readSync(fd, header, 0, header.length, 0), header.length);
  } finally {
    closeSync(fd);
  }
  assert.equal(header[18], 1, 'file format write version 1 = rollback journal');
  assert.equal(countItems(db), 500, 'the live database is untouched');
});

test('local retention removes expired backups only after the new one is safe, and keeps foreign files', async () => {
  const { backups, options } = setup();
  mkdirSync(backups, { recursive: true });
  const old = [backupName(7, NOW_S - 4 * 86_400), backupName(1, NOW_S - 30 * 86_400)];
  const young = [backupName(7, NOW_S - 2 * 86_400)];
  for (const name of [...old, ...young, 'notes.txt', 'backup_node_7_1.sqlite~'])
    writeFileSync(join(backups, name), 'x');
  const report = await runBackup(options);
  assert.deepEqual([...report.expiredLocal].sort(), [...old].sort());
  assert.deepEqual(withoutLock(backups).sort(), [report.name, ...young, 'notes.txt', 'backup_node_7_1.sqlite~'].sort());
});

test('a second run in the same second waits on the clock for the next free name', async () => {
  const { backups, options } = setup();
  const clock = new FakeClock(NOW);
  const first = await runBackup({ ...options, clock });
  const second = runBackup({ ...options, clock });
  // It sleeps until the next second instead of failing or replacing the first backup.
  const wake = await clock.nextSleep();
  assert.equal(wake.getTime(), (NOW_S + 1) * 1000);
  assert.deepEqual(
    withoutLock(backups).filter((f) => !f.startsWith(BACKUP_LOCK)),
    [first.name],
    'nothing written while it waits (but the held lock and its owner file)',
  );
  clock.advanceTo(wake);
  const report = await second;
  assert.equal(report.name, backupName(7, NOW_S + 1));
  assert.deepEqual(withoutLock(backups).sort(), [first.name, report.name].sort());
  assert.equal(countItems(report.path), 500);
});

test('a missing database fails clearly and creates no backup', async () => {
  const { dir, backups, options } = setup();
  await assert.rejects(runBackup({ ...options, dbFile: join(dir, 'nope.db') }), (err: unknown) => {
    assert.ok(err instanceof LifeboatError);
    assert.equal(err.code, 'DB_MISSING');
    assert.match(err.message, /nope\.db/);
    return true;
  });
  assert.deepEqual(withoutLock(backups), []);
});

test('a corrupt database fails its check and leaves nothing behind', async () => {
  const { db, backups, options } = setup(5000);
  // Overwrite a b-tree page in the middle of the file with garbage.
  const fd = openSync(db, 'r+');
  try {
    writeSync(fd, Buffer.alloc(4096, 0xff), 0, 4096, 4096 * 5);
  } finally {
    closeSync(fd);
  }
  await assert.rejects(runBackup(options), (err: unknown) => {
    assert.ok(err instanceof LifeboatError);
    assert.ok(['SNAPSHOT_CORRUPT', 'SNAPSHOT_FAILED'].includes(err.code), err.code);
    return true;
  });
  assert.deepEqual(withoutLock(backups), []);
});

test('temp files of an interrupted run are cleaned up; a held lock refuses a second run', async () => {
  const { backups, options } = setup();
  mkdirSync(backups, { recursive: true });
  writeFileSync(join(backups, '.lifeboat-tmp-backup_node_7_1.sqlite.dead01'), 'partial');
  const report = await runBackup(options);
  assert.deepEqual(withoutLock(backups), [report.name]);

  // A lock held by another run makes a concurrent run fail instead of racing.
  const held = await acquireLock(join(backups, BACKUP_LOCK), 'test');
  try {
    await assert.rejects(
      runBackup({ ...options, clock: new FakeClock(NOW.getTime() + 5000) }),
      (err: unknown) => err instanceof LifeboatError && err.code === 'LOCKED' && /\(test, since /.test(err.message),
    );
  } finally {
    await held.release();
  }
  // A lock file in the old JSON format, left by a dead process, is stale and taken over.
  writeFileSync(
    join(backups, BACKUP_LOCK),
    JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), since: 'then', purpose: 'crashed' }),
  );
  const again = await runBackup({ ...options, clock: new FakeClock(NOW.getTime() + 6000) });
  assert.ok(existsSync(again.path));
  assert.equal(await lockOwner(join(backups, BACKUP_LOCK)), undefined);
});
