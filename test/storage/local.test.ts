import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import { LocalStore } from '../../src/storage/local.js';
import { storeObject } from '../../src/storage/store.js';
import { bufferSource } from '../support/range-source.js';
import { tempDir } from '../support/tmp.js';

// What the local folder adds to the store contract (test/support/store-contract.ts): file
// modes, a folder created on demand, dot files, and staging a file that a writer fills itself.

test('stored files are private (0600 in a 0700 folder); a missing folder lists as empty and is created', async () => {
  const dir = join(tempDir(), 'backups');
  const store = new LocalStore(dir);
  assert.deepEqual(await store.list(), []);
  await storeObject(store, 'backup_node_1_10.sqlite', bufferSource('hello world'));
  assert.equal(statSync(join(dir, 'backup_node_1_10.sqlite')).mode & 0o777, 0o600);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  await store.create('made', Buffer.from('x'));
  assert.equal(statSync(join(dir, 'made')).mode & 0o777, 0o600);
});

test('stageFile: the writer fills a temp file in the folder; commit gives it its name, abort removes it', async () => {
  const dir = tempDir();
  const store = new LocalStore(dir);
  const kept = store.stageFile('kept.sqlite');
  writeFileSync(kept.path, 'written by the snapshot');
  assert.deepEqual(await store.list(), [], 'a staged file is not listed');
  const stored = await kept.commit();
  assert.deepEqual([stored.name, stored.size], ['kept.sqlite', 23]);
  assert.equal(await text(await store.get('kept.sqlite')), 'written by the snapshot');
  await assert.rejects(kept.commit(), (err: unknown) => err instanceof LifeboatError);

  const dropped = store.stageFile('dropped.sqlite');
  writeFileSync(dropped.path, 'half');
  writeFileSync(`${dropped.path}-journal`, 'j');
  await dropped.abort();
  assert.deepEqual(readdirSync(dir), ['kept.sqlite'], 'the temp file and its journal are gone');
});

test('dot files and folders are not listed; unsafe names are refused', async () => {
  const dir = tempDir();
  const store = new LocalStore(dir);
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, '.hidden'), 'x');
  writeFileSync(join(dir, 'b.sqlite'), 'x');
  assert.deepEqual(
    (await store.list()).map((o) => o.name),
    ['b.sqlite'],
  );
  for (const bad of ['', '.', '..', '../x', 'a/b', '.lifeboat-tmp-x']) {
    await assert.rejects(
      store.get(bad),
      (err: unknown) => err instanceof LifeboatError && err.code === 'BAD_NAME',
      bad,
    );
  }
});

test('removeLeftovers: old temp files whose names the caller owns; backups and the rest stay', async () => {
  const dir = tempDir();
  const store = new LocalStore(dir);
  const old = new Date('2026-01-01T00:00:00Z');
  const files = {
    deadBackup: '.lifeboat-tmp-backup_node_1_100.sqlite.0a1b2c3d4e5f',
    deadJournal: '.lifeboat-tmp-backup_node_1_100.sqlite.0a1b2c3d4e5f-journal',
    foreign: '.lifeboat-tmp-notes.txt.0a1b2c3d4e5f',
    young: '.lifeboat-tmp-backup_node_1_200.sqlite.ffffffffffff',
    backup: 'backup_node_1_50.sqlite',
  };
  for (const f of Object.values(files)) writeFileSync(join(dir, f), 'x');
  for (const f of [files.deadBackup, files.deadJournal, files.foreign, files.backup])
    utimesSync(join(dir, f), old, old);
  const isBackup = (name: string) => name.startsWith('backup_node_');
  const removed = await store.removeLeftovers(new Date('2026-06-01T00:00:00Z'), isBackup);
  assert.deepEqual(removed.sort(), [files.deadBackup, files.deadJournal].sort());
  assert.deepEqual(readdirSync(dir).sort(), [files.backup, files.foreign, files.young].sort());
  assert.deepEqual(await new LocalStore(join(dir, 'missing')).removeLeftovers(new Date()), []);
});
