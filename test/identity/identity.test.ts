import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import {
  checkStore,
  establishIdentity,
  idFileOf,
  MARKER,
  readDatabaseId,
  readMarker,
} from '../../src/identity/identity.js';
import { LocalStore } from '../../src/storage/local.js';
import { createItemsDb } from '../support/db.js';
import { tempDir } from '../support/tmp.js';

const isCode = (code: string) => (err: unknown) => err instanceof LifeboatError && err.code === code;

function database(dir = tempDir(), name = 'app.db') {
  const path = join(dir, name);
  createItemsDb(path, 1);
  return { path, nodeId: 1 };
}

test('the first backup gives the database an id and claims its stores for it; the next finds them', async () => {
  const db = database();
  const local = new LocalStore(join(tempDir(), 'backups'));
  const remote = new LocalStore(join(tempDir(), 'remote'));
  const id = await establishIdentity(db, local, [remote]);
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.equal(await readDatabaseId(db.path), id);
  assert.equal((await readMarker(local))?.id, id);
  assert.equal(await readMarker(remote), undefined, 'the remote is claimed by the push, not before');
  await checkStore(db, id, remote);
  assert.deepEqual([(await readMarker(remote))?.id, (await readMarker(remote))?.path], [id, db.path]);
  assert.equal(await establishIdentity(db, local, [remote]), id, 'stable');
  assert.deepEqual(await local.list(), [], 'the marker is not a backup and is not listed');
});

test('a second database pointed at the same backups folder is refused, naming both, and changes nothing', async () => {
  const shared = join(tempDir(), 'backups');
  const first = database();
  const id = await establishIdentity(first, new LocalStore(shared));
  const second = database(tempDir(), 'other.db');
  const marker = readFileSync(join(shared, MARKER), 'utf8');
  await assert.rejects(establishIdentity(second, new LocalStore(shared)), (err: unknown) => {
    assert.ok(isCode('WRONG_DATABASE')(err));
    const e = err as LifeboatError;
    assert.ok(e.message.includes(first.path) && e.message.includes(id) && e.message.includes(second.path));
    assert.match(e.hint ?? '', /own backups folder and S3 prefix.*--adopt/);
    return true;
  });
  assert.equal(readFileSync(join(shared, MARKER), 'utf8'), marker, 'the marker is untouched');
  assert.equal(await readDatabaseId(second.path), undefined, 'no id was invented for the refused one');
  // The same with an id of its own: a database that already backs up elsewhere.
  await establishIdentity(second, new LocalStore(join(tempDir(), 'its-own')));
  await assert.rejects(
    checkStore(second, (await readDatabaseId(second.path))!, new LocalStore(shared)),
    isCode('WRONG_DATABASE'),
  );
});

const takesMarkerId =
  'a database without its id file takes the id of a marker that names it (upgrade, restore elsewhere)';
test(takesMarkerId, async () => {
  const db = database();
  const local = new LocalStore(join(tempDir(), 'backups'));
  const remote = new LocalStore(join(tempDir(), 'remote'));
  const id = await establishIdentity(db, local);
  await checkStore(db, id, remote);
  // A new machine: the id file and the local folder are gone, the remote marker remains.
  writeFileSync(idFileOf(db.path), '');
  const fresh = new LocalStore(join(tempDir(), 'new-backups'));
  await assert.rejects(
    establishIdentity(db, fresh, [remote]),
    isCode('IDENTITY_UNREADABLE'),
    'a torn id file is not ignored',
  );
  const { rmSync } = await import('node:fs');
  rmSync(idFileOf(db.path));
  assert.equal(await establishIdentity(db, fresh, [remote]), id, 'found through the remote marker');
  assert.equal((await readMarker(fresh))?.id, id);
});

test('a database Lifeboat just created empty never takes over the backups of the database that was there', async () => {
  const db = database();
  const local = new LocalStore(join(tempDir(), 'backups'));
  await establishIdentity(db, local);
  const { rmSync } = await import('node:fs');
  rmSync(idFileOf(db.path));
  await assert.rejects(establishIdentity({ ...db, createdNow: true }, local), (err: unknown) => {
    assert.ok(isCode('WRONG_DATABASE')(err));
    assert.match(
      (err as LifeboatError).hint ?? '',
      /new, empty database created by mistake, restore the real one first/,
    );
    return true;
  });
});

test('a remote that does not answer does not stop the local identity; its marker is checked at the push', async () => {
  const db = database();
  const local = new LocalStore(join(tempDir(), 'backups'));
  const down = {
    ...new LocalStore(tempDir()),
    description: 'a store that is down',
    get: () => Promise.reject(new Error('down')),
  };
  const id = await establishIdentity(db, local, [down as unknown as LocalStore]);
  assert.equal(await readDatabaseId(db.path), id);
});
