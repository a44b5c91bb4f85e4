import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
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
