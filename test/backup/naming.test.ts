import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backupName, parseBackupName, sortBackupsNewestFirst } from '../../src/backup/naming.js';

test('names follow Hiqlite: backup_node_{id}_{unix_seconds}.sqlite', () => {
  assert.equal(backupName(1, 1732415400), 'backup_node_1_1732415400.sqlite');
  assert.equal(backupName(42, 0), 'backup_node_42_0.sqlite');
  assert.throws(() => backupName(0, 1), RangeError);
  assert.throws(() => backupName(1, -1), RangeError);
  assert.throws(() => backupName(1.5, 1), RangeError);
});

test('parsing round-trips and rejects everything else', () => {
  assert.deepEqual(parseBackupName('backup_node_3_1732415400.sqlite'), { nodeId: 3, unixSeconds: 1732415400 });
  for (const name of [
    'backup_node_1_1732415400.sqlite~', // Hiqlite's temp name
    'backup_node_1_1732415400.sqlite.tmp',
    '.lifeboat-tmp-backup_node_1_1.sqlite.ab12',
    'backup_node__1732415400.sqlite',
    'backup_node_0_1732415400.sqlite',
    'backup_node_01_1732415400.sqlite',
    'backup_node_1_.sqlite',
    'backup_node_1_17324x5400.sqlite',
    'backup_node_1_1732415400.db',
    'prefix/backup_node_1_1732415400.sqlite',
    'my_backup_node_1_1732415400.sqlite',
    'backup_node_-1_1732415400.sqlite',
    'backup_node_1_-1732415400.sqlite',
    'notes.txt',
  ]) {
    assert.equal(parseBackupName(name), undefined, name);
  }
});

test('sorting puts the newest first and drops foreign names', () => {
  const sorted = sortBackupsNewestFirst([
    { name: 'backup_node_1_100.sqlite' },
    { name: 'readme.md' },
    { name: 'backup_node_2_300.sqlite' },
    { name: 'backup_node_1_200.sqlite' },
  ]);
  assert.deepEqual(
    sorted.map((s) => s.name),
    ['backup_node_2_300.sqlite', 'backup_node_1_200.sqlite', 'backup_node_1_100.sqlite'],
  );
});
