import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { generateKey } from '../../src/crypto/keys.js';
import { DB_ID_METADATA, idFileOf, readDatabaseId } from '../../src/identity/identity.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { runCli } from '../support/cli.js';
import { countItems, createItemsDb } from '../support/db.js';
import { backupFiles } from '../support/folder.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

// Issue #15: a backups folder or S3 prefix belongs to one database. Reproduced as it happened:
// two databases configured into the same data_dir and prefix, through the real CLI and the
// real S3 server.

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const KEY = generateKey('k1');

async function setup() {
  const config = await s3.place();
  const dir = tempDir();
  const env = { HQL_DATA_DIR: join(dir, 'data'), ...s3Env(config), ENC_KEYS: KEY, ENC_KEY_ACTIVE: 'k1' };
  const big = join(dir, 'big.db');
  const small = join(dir, 'small.db');
  createItemsDb(big, 3000);
  createItemsDb(small, 3);
  return { config, dir, env, big, small, store: new S3Store(config) };
}

test('a second database in the same backups folder and prefix is refused; its backups never mix in', async () => {
  const { dir, env, big, small, store } = await setup();
  const first = await runCli(['backup', '--db', big], { cwd: dir, env });
  assert.equal(first.code, 0, first.stderr);
  const bigId = await readDatabaseId(big);
  assert.ok(bigId);
  const before = (await store.list()).map((o) => o.name);

  const second = await runCli(['backup', '--db', small], { cwd: dir, env });
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stderr, /holds the backups of another database \(.*big\.db/);
  assert.match(second.stderr, /hint: give each database its own backups folder and S3 prefix/);
  assert.deepEqual(backupFiles(join(dir, 'data', 'state_machine', 'backups')).length, 1, 'no local backup of it');
  assert.deepEqual(
    (await store.list()).map((o) => o.name),
    before,
    'nothing of it in the bucket',
  );

  // Its own data_dir, the same prefix: the local backup is taken, the push is refused (exit 3).
  const own = { ...env, HQL_DATA_DIR: join(dir, 'small-data') };
  const pushed = await runCli(['backup', '--db', small], { cwd: dir, env: own });
  assert.equal(pushed.code, 3, pushed.stderr);
  assert.match(pushed.stderr, /s3 bucket .* holds the backups of another database/);
  assert.equal(backupFiles(join(dir, 'small-data', 'state_machine', 'backups')).length, 1, 'the local backup is kept');
  assert.deepEqual(
    (await store.list()).map((o) => o.name),
    before,
    'still nothing of it in the bucket',
  );
  assert.equal((await store.stat(before[0]!))?.metadata?.[DB_ID_METADATA], bigId, 'the object says whose it is');
});

test("s3:latest and verify pick only this database's backups; Hiqlite's (no identity) stay usable", async () => {
  const { dir, env, big, store } = await setup();
  assert.equal((await runCli(['backup', '--db', big], { cwd: dir, env })).code, 0);
  const ours = (await store.list()).map((o) => o.name);
  // A newer backup of another database in the same prefix (as mixed before markers existed),
  // and an even newer one without an identity, as Hiqlite writes them.
  const other = join(dir, 'other.db');
  createItemsDb(other, 7);
  const otherEnv = { ...env, HQL_DATA_DIR: join(dir, 'other-data'), HQL_S3_PREFIX: 'elsewhere/' };
  assert.equal((await runCli(['backup', '--db', other], { cwd: dir, env: otherEnv })).code, 0);
  const client = s3.client();
  const { CopyObjectCommand } = await import('@aws-sdk/client-s3');
  const place = store.config;
  const [foreign] = (await new S3Store({ ...place, prefix: `${place.prefix}elsewhere/` }).list()).map((o) => o.name);
  const newer = foreign!.replace(/_(\d+)\.sqlite$/, (_m, ts: string) => `_${Number(ts) + 100}.sqlite`);
  await client.send(
    new CopyObjectCommand({
      Bucket: place.bucket,
      CopySource: `${place.bucket}/${place.prefix}elsewhere/${foreign}`,
      Key: `${place.prefix}${newer}`,
    }),
  );
  const verify = await runCli(['verify', 's3:latest', '--db', big, '--json'], { cwd: dir, env });
  assert.equal(verify.code, 0, verify.stderr);
  assert.equal(JSON.parse(verify.stdout).origin, ours[0], "the other database's newer backup is passed over");
  assert.match(verify.stderr, new RegExp(`passes over ${newer.replace('.', '\\.')}: a backup of another database`));

  // Hiqlite's backups carry no identity: the newest of them is this database's as far as Lifeboat can tell.
  const hiqlite = newer.replace(/_(\d+)\.sqlite$/, (_m, ts: string) => `_${Number(ts) + 100}.sqlite`);
  await client.send(
    new CopyObjectCommand({
      Bucket: place.bucket,
      CopySource: `${place.bucket}/${place.prefix}${ours[0]}`,
      Key: `${place.prefix}${hiqlite}`,
      MetadataDirective: 'REPLACE',
    }),
  );
  const again = await runCli(['verify', 's3:latest', '--db', big, '--json'], { cwd: dir, env });
  assert.equal(JSON.parse(again.stdout).origin, hiqlite);
});

const newMachine =
  'a database restored onto a new machine takes its identity from the backup and goes on backing up there';
test(newMachine, async () => {
  const { dir, env, big, store } = await setup();
  assert.equal((await runCli(['backup', '--db', big], { cwd: dir, env })).code, 0);
  const id = await readDatabaseId(big);
  // A new machine: a new data_dir, no database, no id file.
  const machine = join(tempDir(), 'data');
  const fresh = { ...env, HQL_DATA_DIR: machine };
  const restored = await runCli(['restore', 's3:latest'], { cwd: dir, env: fresh });
  assert.equal(restored.code, 0, restored.stderr);
  const db = join(machine, 'state_machine', 'db', 'hiqlite.db');
  assert.equal(countItems(db), 3000);
  assert.equal(await readDatabaseId(db), id, 'the identity came with the backup');
  const next = await runCli(['backup'], { cwd: dir, env: fresh });
  assert.equal(next.code, 0, next.stderr);
  assert.equal((await store.list()).length, 2, 'its backups go on in the same prefix');
});

test('an empty database Lifeboat creates by mistake (a typo in data_dir) never becomes s3:latest', async () => {
  const { dir, env, store } = await setup();
  const real = join(dir, 'data', 'state_machine', 'db');
  mkdirSync(real, { recursive: true });
  createItemsDb(join(real, 'hiqlite.db'), 500);
  assert.equal((await runCli(['backup'], { cwd: dir, env })).code, 0);
  const before = (await store.list()).map((o) => o.name);
  // `serve` with a typo: it creates an empty database and would back it up at once.
  const typo = { ...env, HQL_DATA_DIR: join(dir, 'dta') };
  const { Lifeboat } = await import('../../src/lifeboat.js');
  const lb = await Lifeboat.open({ env: typo, cwd: dir, schedule: false, backupOnStart: 'always' });
  try {
    await lb.whenStarted();
    assert.match(lb.status().lastError ?? '', /holds the backups of another database/);
    assert.match((await lb.statusReport()).lastFailure?.message ?? '', /another database/);
  } finally {
    await lb.close();
  }
  assert.deepEqual(
    (await store.list()).map((o) => o.name),
    before,
    'the bucket holds only the real backups',
  );
  // Its local backup is its own business; the bucket's owner is unchanged.
  const typoDb = join(dir, 'dta', 'state_machine', 'db', 'hiqlite.db');
  assert.ok(existsSync(idFileOf(typoDb)));
  assert.notEqual(await readDatabaseId(typoDb), await readDatabaseId(join(real, 'hiqlite.db')));
  const identity = await runCli(['identity'], { cwd: dir, env });
  assert.equal(identity.code, 0, identity.stderr);
  assert.match(identity.stdout, /^local +[0-9a-f-]{36} \(.*hiqlite\.db/m);
});
