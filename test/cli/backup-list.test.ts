import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { backupName } from '../../src/backup/naming.js';
import { runCli } from '../support/cli.js';
import { countItems, createItemsDb } from '../support/db.js';
import { backupFiles } from '../support/folder.js';
import { tempDir } from '../support/tmp.js';

function workspace() {
  const dir = tempDir();
  const db = join(dir, 'app.db');
  createItemsDb(db, 300);
  const env = { HQL_DATA_DIR: join(dir, 'data'), HQL_NODE_ID: '4' };
  return { dir, db, env, backups: join(dir, 'data', 'state_machine', 'backups') };
}

test('backup prints name, size and duration; list shows it with time, size and age', async () => {
  const { dir, db, env, backups } = workspace();
  const res = await runCli(['backup', '--db', db], { cwd: dir, env });
  assert.equal(res.code, 0, res.stderr);
  const name = /backup\s+(backup_node_4_\d+\.sqlite)/.exec(res.stdout)?.[1];
  assert.ok(name, res.stdout);
  assert.match(res.stdout, /size\s+\d+(\.\d+)? (KiB|MiB)/);
  assert.match(res.stdout, /duration\s+\d+/);
  assert.equal(countItems(join(backups, name)), 300);

  const list = await runCli(['list'], { cwd: dir, env });
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /WHERE\s+NAME\s+TIME \(UTC\)\s+SIZE\s+AGE/);
  assert.match(list.stdout, new RegExp(`local\\s+${name.replace('.', '\\.')}\\s+\\d{4}-\\d\\d-\\d\\dT`));

  assert.match(list.stdout, new RegExp(`^# local: +${backups.replace(/[/.]/g, '\\$&')}\n`));

  const json = await runCli(['list', '--json'], { cwd: dir, env });
  const out = JSON.parse(json.stdout) as {
    local: { path: string };
    remote: null;
    backups: Array<{ where: string; name: string; nodeId: number; bytes: number; takenAt: string }>;
  };
  assert.deepEqual(out.local, { path: backups });
  assert.equal(out.remote, null);
  const rows = out.backups;
  assert.deepEqual(
    rows.map((r) => [r.where, r.name, r.nodeId]),
    [['local', name, 4]],
  );
  assert.ok(rows[0]!.bytes > 0);
  assert.match(rows[0]!.takenAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
});

test('list is newest first and ignores foreign files', async () => {
  const { dir, env, backups } = workspace();
  mkdirSync(backups, { recursive: true });
  for (const name of [backupName(1, 1_700_000_000), backupName(2, 1_800_000_000), 'notes.txt'])
    writeFileSync(join(backups, name), 'x');
  const json = await runCli(['list', '--json', '--local'], { cwd: dir, env });
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(
    (JSON.parse(json.stdout) as { backups: Array<{ name: string }> }).backups.map((r) => r.name),
    [backupName(2, 1_800_000_000), backupName(1, 1_700_000_000)],
  );
});

test('failures: a missing database exits 1 naming it; bad config and --remote without S3 exit 2', async () => {
  const { dir, env, backups } = workspace();
  const missing = await runCli(['backup', '--db', join(dir, 'gone.db')], { cwd: dir, env });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /gone\.db/);
  assert.ok(backupFiles(backups).length === 0, 'no backup, no temp file');

  const bad = await runCli(['backup'], { cwd: dir, env: { ...env, HQL_BACKUP_KEEP_DAYS: 'thirty' } });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /HQL_BACKUP_KEEP_DAYS/);

  const remote = await runCli(['list', '--remote'], { cwd: dir, env });
  assert.equal(remote.code, 2);
  assert.match(remote.stderr, /HQL_S3_URL/);
});
