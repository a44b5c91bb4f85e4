import assert from 'node:assert/strict';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type BackupPlan, runBackup } from '../../src/backup/job.js';
import { backupName } from '../../src/backup/naming.js';
import { LifeboatError } from '../../src/errors.js';
import { freeSpace } from '../../src/fs/space.js';
import Database from '../../src/sqlite/driver.js';
import { countItems, createItemsDb } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { backupFiles } from '../support/folder.js';
import { testPlan } from '../support/plan.js';
import { tempDir } from '../support/tmp.js';
import { mountTmpfs } from '../support/tmpfs.js';

const MiB = 1024 * 1024;
const NOW_S = Math.floor(Date.now() / 1000);
const OLDER = backupName(1, NOW_S - 86_400);
const entries = backupFiles;

/** A backup plan whose backups folder is `backups` (the tmpfs), with one older backup in it. */
function plan(db: string, backups: string, over: Partial<BackupPlan> = {}): BackupPlan {
  createItemsDb(join(backups, OLDER), 100);
  return testPlan(db, backups, { keepMin: 3, clock: new FakeClock(NOW_S * 1000), ...over });
}

const noRoom =
  'a snapshot that would not fit with its margin (database + WAL + 10% + 64 MiB) is refused before anything is written';
test(noRoom, async (t) => {
  const fs = mountTmpfs(80);
  if ('skip' in fs) return t.skip(fs.skip);
  try {
    const db = join(tempDir(), 'app.db');
    createItemsDb(db, 10);
    // ~16 MiB of committed writes still in the WAL (a connection holds it open, no checkpoint):
    // the main file alone would fit, the snapshot of it and its WAL would not.
    const holder = new Database(db);
    try {
      holder.pragma('wal_autocheckpoint = 0');
      const insert = holder.prepare('INSERT INTO items (name, body) VALUES (?, ?)');
      holder.transaction(() => {
        for (let i = 0; i < 16 * 1024; i++) insert.run(`wal-${i}`, Buffer.alloc(1000, i % 251));
      })();
      const dbBytes = statSync(db).size;
      const walBytes = statSync(`${db}-wal`).size;
      assert.ok(dbBytes < MiB && walBytes > 16 * MiB, `db ${dbBytes}, wal ${walBytes}`);
      const options = plan(db, fs.dir);
      const free = await freeSpace(fs.dir);
      await assert.rejects(runBackup(options), (err: unknown) => {
        assert.ok(err instanceof LifeboatError);
        assert.equal(err.code, 'NO_SPACE');
        assert.match(
          err.message,
          new RegExp(
            `^not enough free space in ${fs.dir} for a snapshot of ${db}: 8\\d\\.\\d MiB needed ` +
              `\\(1\\d\\.\\d MiB \\+ 10% \\+ 64 MiB\\), ${(free / MiB).toFixed(1)} MiB free; nothing was written$`,
          ),
        );
        return true;
      });
      assert.deepEqual(entries(fs.dir), [OLDER], 'nothing written, the older backup kept');
    } finally {
      holder.close();
    }
    // Once it fits with its margin (here: the same database file, made small), it is backed up there.
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${db}${suffix}`, { force: true });
    createItemsDb(db, 2000);
    const report = await runBackup({ ...plan(db, fs.dir), clock: new FakeClock((NOW_S + 1) * 1000) });
    assert.deepEqual(entries(fs.dir).sort(), [OLDER, report.name].sort());
  } finally {
    fs.unmount();
  }
});

test('a disk that fills up during the copy: NO_SPACE naming the file, the partial copy removed', async (t) => {
  const fs = mountTmpfs(80);
  if ('skip' in fs) return t.skip(fs.skip);
  try {
    const db = join(tempDir(), 'app.db');
    createItemsDb(db, 36_000); // ~8 MiB: fits with its margin when the run starts
    const options = plan(db, fs.dir, {
      // After the free-space check passed, something else fills the disk (leaving 1 MiB).
      beforeCopy: async () => {
        writeFileSync(join(fs.dir, 'ballast'), Buffer.alloc((await freeSpace(fs.dir)) - MiB));
      },
    });
    await assert.rejects(runBackup(options), (err: unknown) => {
      assert.ok(err instanceof LifeboatError);
      assert.equal(err.code, 'NO_SPACE');
      assert.match(
        err.message,
        new RegExp(
          `^the file system of ${fs.dir} is full: copying ${db} into ${fs.dir}/\\.lifeboat-tmp-backup_node_1_${NOW_S}` +
            `\\.sqlite\\.[0-9a-f]+ failed \\(ENOSPC: no space left on device, write \\(ENOSPC\\)\\); ` +
            'nothing was changed: ' +
            'the partial copy is removed, the existing backups are kept$',
        ),
      );
      return true;
    });
    assert.deepEqual(entries(fs.dir).sort(), [OLDER, 'ballast'].sort(), 'no temp file, no journal');
    assert.equal(countItems(join(fs.dir, OLDER)), 100);
  } finally {
    fs.unmount();
  }
});
