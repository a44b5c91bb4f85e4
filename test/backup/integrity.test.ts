import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { type BackupPlan, RemotePushError, runBackup } from '../../src/backup/job.js';
import { backupName } from '../../src/backup/naming.js';
import { createKeySet } from '../../src/crypto/keys.js';
import { LifeboatError } from '../../src/errors.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { runCli } from '../support/cli.js';
import { countItems, createIndexMismatchDb, createItemsDb, pragmaCheck } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { backupFiles } from '../support/folder.js';
import { observeStage } from '../support/observed-store.js';
import { plantBackups, testPlan } from '../support/plan.js';
import { getTestS3, type TestS3 } from '../support/s3.js';
import { danglingUploads, names } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const MiB = 1024 * 1024;
const DAY_S = 86_400;
const KEYS = createKeySet([{ id: 'current', key: Buffer.alloc(32, 2) }], 'current');
// Close to the real time: the store dates what the test puts there with the real clock.
const NOW_S = Math.floor(Date.now() / 1000);
const local = backupFiles;

function plan(dir: string, db: string, over: Partial<BackupPlan> = {}): BackupPlan {
  return testPlan(db, join(dir, 'backups'), { clock: new FakeClock(NOW_S * 1000), ...over });
}

const restoreWouldRefuse =
  'a database that passes quick_check but not integrity_check is no backup: ' +
  'SNAPSHOT_CORRUPT, nothing local, nothing in S3, no upload left, no retention';
test(restoreWouldRefuse, async () => {
  const config = await s3.place();
  const dir = tempDir();
  const db = join(dir, 'app.db');
  createIndexMismatchDb(db, 60_000); // ~8 MiB: the push goes up in two parts while the copy is checked
  // The premise: quick_check passes, integrity_check (what a restore runs) does not.
  assert.deepEqual(pragmaCheck(db, 'quick_check'), ['ok']);
  const problems = pragmaCheck(db, 'integrity_check');
  assert.match(problems[0] ?? '', /^row \d+ missing from index t_b$/);

  // Older good backups: one within keep_days and one beyond it, which retention would delete.
  const backups = join(dir, 'backups');
  const older = await plantBackups(backups, { days: [1, 40], nowS: NOW_S, rows: 10, config });
  const real = new S3Store(config, { partSizeBytes: 5 * MiB, queueSize: 2 });
  let staged = 0;
  // The real store; only counts that the push was staged before the check failed.
  const store = observeStage(real, () => {
    staged++;
  });

  const options = plan(dir, db, { remote: { store, key: KEYS.active } });
  await assert.rejects(runBackup(options), (err: unknown) => {
    assert.ok(err instanceof LifeboatError && !(err instanceof RemotePushError), String(err));
    assert.equal(err.code, 'SNAPSHOT_CORRUPT');
    assert.match(err.message, /failed PRAGMA integrity_check: row \d+ missing from index t_b/);
    assert.ok(err.message.includes(db), err.message);
    return true;
  });
  assert.equal(staged, 1, 'the push had started from the copy');
  assert.deepEqual(local(backups).sort(), older, 'no new backup, no temp file, the older ones kept');
  assert.deepEqual((await names(config)).sort(), older, 'nothing reached the bucket, nothing was deleted');
  assert.equal(await danglingUploads(config), 0, 'the staged multipart upload was aborted');

  // Control: the same run on a sound database does expire the 40-day-old backup (keep_min 1),
  // so it survived above because a failed backup triggers no retention.
  // (The same database file, repaired: a backups folder belongs to one database.)
  rmSync(db);
  createItemsDb(db, 100);
  const report = await runBackup({ ...options, clock: new FakeClock((NOW_S + 1) * 1000) });
  const expiredName = backupName(1, NOW_S - 40 * DAY_S);
  assert.deepEqual(report.expiredLocal, [expiredName]);
  assert.deepEqual(report.remote?.expired, [expiredName]);
  assert.deepEqual(local(backups).sort(), [backupName(1, NOW_S - DAY_S), report.name].sort());
});

test('a snapshot without the tables a restore expects is no backup either: SNAPSHOT_TABLES_MISSING', async () => {
  const dir = tempDir();
  const db = join(dir, 'app.db');
  createItemsDb(db, 50);
  const backups = join(dir, 'backups');
  await assert.rejects(runBackup(plan(dir, db, { expectTables: ['items', 'users'] })), (err: unknown) => {
    assert.ok(err instanceof LifeboatError);
    assert.equal(err.code, 'SNAPSHOT_TABLES_MISSING');
    assert.match(err.message, /lacks the expected table\(s\) users \(it has: items\), so a restore would refuse it/);
    assert.match(err.hint ?? '', /HQL_BACKUP_RESTORE_EXPECT_TABLES/);
    return true;
  });
  assert.deepEqual(local(backups), []);
  const report = await runBackup(plan(dir, db, { expectTables: ['items'] }));
  assert.equal(countItems(report.path), 50);
});

test('CLI: every backup runs integrity_check; --full-check is still accepted and hidden from help', async () => {
  const dir = tempDir();
  const db = join(dir, 'app.db');
  createIndexMismatchDb(db, 2000);
  const env = { HQL_DATA_DIR: join(dir, 'data') };
  const res = await runCli(['backup', '--db', db], { cwd: dir, env });
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /failed PRAGMA integrity_check: row \d+ missing from index t_b/);
  const good = join(dir, 'good.db');
  createItemsDb(good, 10);
  // Another database: its own backups folder.
  const goodEnv = { HQL_DATA_DIR: join(dir, 'data-good') };
  const compat = await runCli(['backup', '--db', good, '--full-check'], { cwd: dir, env: goodEnv });
  assert.equal(compat.code, 0, compat.stderr);
  const help = await runCli(['backup', '--help'], { cwd: dir, env });
  assert.equal(help.code, 0);
  assert.doesNotMatch(help.stdout, /full-check|quick_check/);
  // The tables a restore expects are expected of every backup too.
  const strict = await runCli(['backup', '--db', good], {
    cwd: dir,
    env: { ...goodEnv, HQL_BACKUP_RESTORE_EXPECT_TABLES: 'items,users' },
  });
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /lacks the expected table\(s\) users/);
});
