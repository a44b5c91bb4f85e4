import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { acquireLock, lockOwner } from '../../src/fs/lock.js';
import Database from '../../src/sqlite/driver.js';
import { runCli } from '../support/cli.js';
import { countItems, createItemsDb } from '../support/db.js';
import { tempDir } from '../support/tmp.js';

// `lifeboat restore` and `lifeboat verify` with file: sources, through the real CLI.
// (The same commands against S3 are in test/restore/s3.test.ts.)

function setup() {
  const cwd = tempDir();
  const env = { HQL_DATA_DIR: join(cwd, 'data') };
  const dbDir = join(cwd, 'data', 'state_machine', 'db');
  mkdirSync(dbDir, { recursive: true });
  const dbFile = join(dbDir, 'hiqlite.db');
  createItemsDb(dbFile, 5);
  const backup = join(cwd, 'backup_node_1_1790000000.sqlite');
  createItemsDb(backup, 12);
  new Database(backup).pragma('journal_mode = DELETE');
  return { cwd, env, dbDir, dbFile, backup };
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function corruptCopy(dir: string): string {
  const file = join(dir, 'corrupt.sqlite');
  createItemsDb(file, 3000);
  new Database(file).pragma('journal_mode = DELETE');
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(4096, 0xee), 0, 4096, 4096 * 4);
  closeSync(fd);
  return file;
}

test('restore refuses while a Lifeboat process holds the database, naming its pid', async () => {
  const { cwd, env, dbFile, backup } = setup();
  const before = sha(dbFile);
  const lock = await acquireLock(`${dbFile}.lifeboat.lock`, 'embedded database');
  try {
    const refused = await runCli(['restore', `file:${backup}`], { cwd, env });
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(
      refused.stderr,
      new RegExp(`pid ${process.pid} .*holds ${dbFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
    assert.match(refused.stderr, /hint: stop the application/);
  } finally {
    await lock.release();
  }
  assert.equal(sha(dbFile), before, 'nothing changed');
});

const restoreFilePrints =
  'restore file: prints what was restored and where the old database went; applied once; --force again';
test(restoreFilePrints, async () => {
  const { cwd, env, dbDir, dbFile, backup } = setup();
  const restored = await runCli(['restore', `file:${backup}`], { cwd, env });
  assert.equal(restored.code, 0, restored.stderr);
  assert.match(restored.stdout, new RegExp(`restored ${backup}`));
  assert.match(restored.stdout, new RegExp(`into\\s+${dbFile}`));
  assert.match(restored.stdout, /1 tables, sha256 [0-9a-f]{64}/);
  const kept = /previous database kept at (\S+)/.exec(restored.stdout)?.[1];
  assert.ok(kept, restored.stdout);
  assert.equal(countItems(kept), 5, 'the old database is kept, complete');
  assert.equal(countItems(dbFile), 12);
  assert.equal(await lockOwner(`${dbFile}.lifeboat.lock`), undefined, 'the lock is released');

  const again = await runCli(['restore', `file:${backup}`], { cwd, env });
  assert.equal(again.code, 1);
  assert.match(again.stdout, /not applied: .* was restored before .*--force/);
  const forced = await runCli(['restore', `file:${backup}`, '--force'], { cwd, env });
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(
    readdirSync(dbDir).filter((f) => f.includes('before-restore') && !/-(wal|shm)$/.test(f)).length,
    2,
    `each restore keeps the database it replaced: ${readdirSync(dbDir).join(', ')}`,
  );
});

test('restore of a corrupt backup exits 1 and changes nothing; a bad source is a usage error (2)', async () => {
  const { cwd, env, dbFile } = setup();
  const corrupt = corruptCopy(cwd);
  const before = sha(dbFile);
  const res = await runCli(['restore', `file:${corrupt}`], { cwd, env });
  assert.equal(res.code, 1);
  assert.match(res.stderr, /failed validation/);
  assert.equal(sha(dbFile), before);
  const usage = await runCli(['restore', 'disk:/x'], { cwd, env });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /unknown prefix.*s3:latest/);
});

const verifyPrintsIntegrity =
  'verify prints the integrity result, each table with its row count, size and time; exit 0; changes nothing';
test(verifyPrintsIntegrity, async () => {
  const { cwd, env, backup } = setup();
  const before = sha(backup);
  const scratch = join(cwd, 'scratch');
  mkdirSync(scratch);
  const res = await runCli(['verify', `file:${backup}`, '--temp-dir', scratch], { cwd, env });
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /integrity\s+ok/);
  assert.match(res.stdout, /tables:\n\s+items\s+12 rows/);
  assert.match(res.stdout, /size\s+\d/);
  assert.match(res.stdout, /took\s+\d/);
  assert.equal(sha(backup), before, 'the backup is not touched');
  assert.deepEqual(readdirSync(scratch), [], 'the temp folder is removed');
  const json = await runCli(['verify', `file:${backup}`, '--json'], { cwd, env });
  assert.equal(json.code, 0);
  const parsed = JSON.parse(json.stdout) as {
    ok: boolean;
    tables: Array<{ name: string; rows: number }>;
    sha256: string;
  };
  assert.equal(parsed.ok, true);
  assert.deepEqual(parsed.tables, [{ name: 'items', rows: 12 }]);
  assert.equal(parsed.sha256, before);
});

test("verify of a corrupt file exits 1 and says why; a relative file: path is the working folder's", async () => {
  const dir = tempDir();
  const file = corruptCopy(dir);
  const res = await runCli(['verify', `file:${file}`], { cwd: dir });
  assert.equal(res.code, 1);
  assert.match(res.stdout, /integrity\s+FAILED/);
  const notSqlite = await runCli(['verify', `file:${dir}`], { cwd: dir });
  assert.equal(notSqlite.code, 1);
  assert.match(notSqlite.stderr, /is not a regular file/);
  const rel = await runCli(['verify', 'file:corrupt.sqlite'], { cwd: dir });
  assert.equal(rel.code, 1);
  assert.match(rel.stdout, new RegExp(`backup\\s+${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(rel.stdout, /integrity\s+FAILED/);
  const upward = await runCli(['verify', 'file:../x.sqlite'], { cwd: dir });
  assert.equal(upward.code, 2);
  assert.match(upward.stderr, /contains "\.\."/);
});
