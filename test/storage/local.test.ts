import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import { LocalStore } from '../../src/storage/local.js';
import { tempDir } from '../support/tmp.js';

test('put is atomic and private; list, get and delete work by name', async () => {
  const dir = join(tempDir(), 'backups');
  const store = new LocalStore(dir);
  assert.deepEqual(await store.list(), [], 'a missing folder lists as empty');
  const put = await store.put('backup_node_1_10.sqlite', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
  assert.equal(put.size, 11);
  assert.equal(statSync(join(dir, 'backup_node_1_10.sqlite')).mode & 0o777, 0o600);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(await text(await store.get('backup_node_1_10.sqlite')), 'hello world');
  assert.deepEqual(
    (await store.list()).map((o) => [o.name, o.size]),
    [['backup_node_1_10.sqlite', 11]],
  );
  await store.delete('backup_node_1_10.sqlite');
  await store.delete('backup_node_1_10.sqlite'); // deleting a missing name is fine
  assert.deepEqual(await store.list(), []);
});

test('a failing body leaves neither a partial file nor a temp file, and keeps the old one', async () => {
  const dir = join(tempDir(), 'backups');
  const store = new LocalStore(dir);
  await store.put('a.sqlite', Readable.from([Buffer.from('old')]));
  const failing = new Readable({
    read() {
      this.push(Buffer.alloc(1024, 1));
      this.destroy(new Error('disk on fire'));
    },
  });
  await assert.rejects(store.put('a.sqlite', failing), /disk on fire/);
  assert.deepEqual(readdirSync(dir), ['a.sqlite']);
  assert.equal(await text(await store.get('a.sqlite')), 'old');
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
  await assert.rejects(
    store.get('missing.sqlite'),
    (err: unknown) =>
      err instanceof LifeboatError && err.code === 'NOT_FOUND' && err.message.includes('missing.sqlite'),
  );
});
