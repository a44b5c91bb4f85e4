import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from '../../src/sqlite/driver.js';
import { runCli } from '../support/cli.js';
import { countItems, createItemsDb } from '../support/db.js';
import { tempDir } from '../support/tmp.js';

// The operator's conveniences of `lifeboat restore`: backups named as `lifeboat list` prints them,
// local:latest, the exit code for "nothing to restore", the init-container flags and --json.

function setup(backups: Record<string, number>) {
  const cwd = tempDir();
  const env = { HQL_DATA_DIR: join(cwd, 'data') };
  const dbFile = join(cwd, 'data', 'state_machine', 'db', 'hiqlite.db');
  const backupDir = join(cwd, 'data', 'state_machine', 'backups');
  mkdirSync(backupDir, { recursive: true });
  for (const [name, rows] of Object.entries(backups)) {
    const file = join(backupDir, name);
    createItemsDb(file, rows);
    new Database(file).pragma('journal_mode = DELETE');
  }
  return { cwd, env, dbFile, backupDir };
}

interface RestoreJson {
  applied: boolean;
  reason?: string;
  origin?: string;
  database?: string;
  bytes?: number;
  sha256?: string;
  tables?: Array<{ name: string }>;
  movedAside?: string[];
}

test('a bare backup name and local:latest restore from the local backups folder; the newest is chosen', async () => {
  const { cwd, env, dbFile } = setup({
    'backup_node_1_1790000000.sqlite': 3,
    'backup_node_1_1790086400.sqlite': 7,
  });
  const named = await runCli(['restore', 'backup_node_1_1790000000.sqlite'], { cwd, env });
  assert.equal(named.code, 0, named.stderr);
  assert.match(named.stdout, /restored .*backup_node_1_1790000000\.sqlite/);
  assert.equal(countItems(dbFile), 3);
  assert.match(named.stdout, /there was no previous database/, 'a lost disk: the database folder was created');

  const latest = await runCli(['restore', 'local:latest', '--json'], { cwd, env });
  assert.equal(latest.code, 0, latest.stderr);
  const report = JSON.parse(latest.stdout) as RestoreJson;
  assert.equal(report.applied, true);
  assert.match(report.origin ?? '', /backup_node_1_1790086400\.sqlite$/);
  assert.equal(report.database, dbFile);
  assert.deepEqual(
    report.tables?.map((t) => t.name),
    ['items'],
  );
  assert.match(report.sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.equal(report.movedAside?.length, 1, 'the database it replaced is kept');
  assert.equal(countItems(report.movedAside![0]!), 3);
  assert.equal(countItems(dbFile), 7);

  const missing = await runCli(['restore', 'backup_node_1_1700000000.sqlite'], { cwd, env });
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /backup_node_1_1700000000\.sqlite/, 'the error names the backup');
  assert.equal(countItems(dbFile), 7, 'nothing changed');
});

test('nothing to restore exits 4; --if-replica-exists makes it a success that changes nothing', async () => {
  const { cwd, env, dbFile } = setup({});
  const none = await runCli(['restore', 'local:latest'], { cwd, env });
  assert.equal(none.code, 4, none.stderr);
  assert.match(none.stderr, /no backup/i);
  const tolerated = await runCli(['restore', 'local:latest', '--if-replica-exists'], { cwd, env });
  assert.equal(tolerated.code, 0, tolerated.stderr);
  assert.match(tolerated.stdout, /not restored: .*\(--if-replica-exists\)/);
  const json = await runCli(['restore', 'local:latest', '--if-replica-exists', '--json'], { cwd, env });
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), { applied: false, reason: 'no backups' });
  assert.equal(existsSync(dbFile), false, 'no database appeared');
});

test('--if-db-not-exists restores onto a lost disk and leaves an existing database alone', async () => {
  const { cwd, env, dbFile } = setup({ 'backup_node_1_1790000000.sqlite': 4 });
  const first = await runCli(['restore', 'local:latest', '--if-db-not-exists'], { cwd, env });
  assert.equal(first.code, 0, first.stderr);
  assert.equal(countItems(dbFile), 4);
  new Database(dbFile).prepare('INSERT INTO items (name) VALUES (?)').run('written after the restore');

  const second = await runCli(['restore', 'local:latest', '--if-db-not-exists', '--force'], { cwd, env });
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /not restored: .* exists \(--if-db-not-exists\)/);
  assert.equal(countItems(dbFile), 5, 'the live data is untouched');
  const json = await runCli(['restore', 'local:latest', '--if-db-not-exists', '--json'], { cwd, env });
  assert.deepEqual(JSON.parse(json.stdout), { applied: false, reason: 'database exists' });
  assert.deepEqual(
    readdirSync(join(cwd, 'data', 'state_machine', 'db')).filter((f) => f.includes('before-restore')),
    [],
    'nothing was moved aside',
  );
});

test('restore --json of a backup restored before says applied: false and exits 1', async () => {
  const { cwd, env } = setup({ 'backup_node_1_1790000000.sqlite': 2 });
  assert.equal((await runCli(['restore', 'local:latest'], { cwd, env })).code, 0);
  const again = await runCli(['restore', 'local:latest', '--json'], { cwd, env });
  assert.equal(again.code, 1, again.stderr);
  const report = JSON.parse(again.stdout) as RestoreJson;
  assert.equal(report.applied, false);
  assert.match(report.origin ?? '', /backup_node_1_1790000000\.sqlite$/);
});
