import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { before, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { backupName } from '../../src/backup/naming.js';
import { createKeySet } from '../../src/crypto/keys.js';
import { createEncryptStream } from '../../src/crypto/stream.js';
import { LifeboatError } from '../../src/errors.js';
import { Lifeboat } from '../../src/lifeboat.js';
import { silentLogger } from '../../src/log.js';
import { restoreDatabase } from '../../src/restore/restore.js';
import { parseRestoreSource } from '../../src/restore/source.js';
import { readMarker } from '../../src/restore/swap.js';
import Database from '../../src/sqlite/driver.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { storeObject } from '../../src/storage/store.js';
import { runCli } from '../support/cli.js';
import { countItems, createItemsDb } from '../support/db.js';
import { bufferSource } from '../support/range-source.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const A = { id: 'rotated_out', key: Buffer.alloc(32, 0x0a) };
const B = { id: 'active_now', key: Buffer.alloc(32, 0x0b) };

async function uploadBackup(
  config: Awaited<ReturnType<TestS3['place']>>,
  name: string,
  rows: number,
  key = A,
): Promise<string> {
  const dir = tempDir();
  const file = join(dir, name);
  createItemsDb(file, rows);
  const encrypted = await buffer(createReadStream(file).pipe(createEncryptStream(key)));
  await s3
    .client()
    .send(new PutObjectCommand({ Bucket: config.bucket, Key: `${config.prefix}${name}`, Body: encrypted }));
  return file;
}

function liveDb(rows: number): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'db'));
  const db = join(dir, 'db', 'hiqlite.db');
  createItemsDb(db, rows);
  return db;
}

test('s3: restore with a key rotated out of the active slot; removed key fails and changes nothing', async () => {
  const config = await s3.place();
  const name = backupName(1, 1_790_000_000);
  await uploadBackup(config, name, 42);
  const store = new S3Store(config);
  const db = liveDb(5);
  const base = {
    dbFile: db,
    remote: store,
    skipValidation: false,
    expectTables: ['items'],
    force: false,
    requestedBy: 'startup' as const,
    logger: silentLogger(),
    now: () => new Date(),
  };
  const before = readFileSync(db);
  await assert.rejects(
    restoreDatabase({ ...base, source: parseRestoreSource(`s3:${name}`), keys: createKeySet([B], 'active_now') }),
    (err: unknown) => err instanceof LifeboatError && err.code === 'KEY_UNKNOWN' && /rotated_out/.test(err.message),
  );
  assert.ok(readFileSync(db).equals(before), 'nothing changed');
  await assert.rejects(
    restoreDatabase({
      ...base,
      source: parseRestoreSource('s3:backup_node_1_1.sqlite'),
      keys: createKeySet([A, B], 'active_now'),
    }),
    (err: unknown) =>
      err instanceof LifeboatError && err.code === 'NOT_FOUND' && /backup_node_1_1\.sqlite/.test(err.message),
  );
  const report = await restoreDatabase({
    ...base,
    source: parseRestoreSource(`s3:${name}`),
    keys: createKeySet([A, B], 'active_now'),
  });
  assert.equal(report.applied, true);
  assert.equal(countItems(db), 42);
});

test('s3:latest picks the newest backup by name; a tampered object is refused', async () => {
  const config = await s3.place();
  await uploadBackup(config, backupName(1, 1_790_000_000), 1);
  await uploadBackup(config, backupName(2, 1_790_000_500), 2);
  await uploadBackup(config, backupName(1, 1_790_000_100), 3);
  const keys = createKeySet([A], 'rotated_out');
  const store = new S3Store(config);
  const db = liveDb(5);
  const base = {
    dbFile: db,
    remote: store,
    keys,
    skipValidation: false,
    expectTables: [],
    force: false,
    requestedBy: 'startup' as const,
    logger: silentLogger(),
    now: () => new Date(),
  };
  const report = await restoreDatabase({ ...base, source: parseRestoreSource('s3:latest') });
  assert.equal(report.origin, backupName(2, 1_790_000_500));
  assert.equal(countItems(db), 2);
  // Left set, s3:latest is not applied again even once a newer backup exists (Hiqlite would
  // restore at every start); nor is the object it resolved to, named explicitly.
  await uploadBackup(config, backupName(1, 1_790_000_900), 4);
  assert.equal((await restoreDatabase({ ...base, source: parseRestoreSource('s3:latest') })).applied, false);
  assert.equal(
    (await restoreDatabase({ ...base, source: parseRestoreSource(`s3:${backupName(2, 1_790_000_500)}`) })).applied,
    false,
  );
  assert.equal(countItems(db), 2);
  // Flip one byte inside the stored object.
  const name = backupName(1, 1_790_000_000);
  const raw = await buffer(await store.get(name));
  raw[200]! ^= 0x40;
  await storeObject(store, name, bufferSource(raw));
  const before = readFileSync(db);
  await assert.rejects(
    restoreDatabase({ ...base, source: parseRestoreSource(`s3:${name}`) }),
    (err: unknown) => err instanceof LifeboatError && err.code === 'AUTH_FAILED',
  );
  assert.ok(readFileSync(db).equals(before));
});

test("s3: the sha256 reported and recorded is the backup's, though the check rewrites its first page", async () => {
  // A WAL-mode backup: the check switches the copy to rollback-journal mode, rewriting page 1
  // while the copy is hashed beside it (fetch.ts, sha256Later).
  const config = await s3.place();
  const name = backupName(1, 1_790_000_000);
  const file = await uploadBackup(config, name, 20_000);
  const plain = readFileSync(file);
  assert.equal(plain[18], 2, 'the backup is in WAL mode');
  assert.ok(plain.length > 3 * 1024 * 1024, 'several chunks and reads');
  const db = liveDb(5);
  const report = await restoreDatabase({
    source: parseRestoreSource(`s3:${name}`),
    dbFile: db,
    remote: new S3Store(config),
    keys: createKeySet([A], 'rotated_out'),
    skipValidation: false,
    expectTables: ['items'],
    force: false,
    requestedBy: 'library',
    logger: silentLogger(),
    now: () => new Date(),
  });
  const restored = readFileSync(db);
  // The check switched the copy to rollback-journal mode; the swap put it back in WAL mode, as
  // the database it replaced was: only the header differs.
  assert.equal(restored[18], 2, 'in WAL mode, as the database it replaced');
  assert.ok(restored.subarray(100).equals(plain.subarray(100)), 'past the header, the bytes are the backup');
  const expected = createHash('sha256').update(plain).digest('hex');
  assert.equal(report.sha256, expected);
  assert.equal((await readMarker(db))?.sha256, expected);
});

test('HQL_BACKUP_RESTORE at start-up: applied once, then a loud warning instead of a silent re-apply', async () => {
  const config = await s3.place();
  const name = backupName(1, 1_790_000_000);
  await uploadBackup(config, name, 9);
  const cwd = tempDir();
  const env = {
    ...s3Env(config),
    ENC_KEYS: `rotated_out/${A.key.toString('base64')}\nactive_now/${B.key.toString('base64')}`,
    ENC_KEY_ACTIVE: 'active_now',
    HQL_BACKUP_RESTORE: `s3:${name}`,
  } as NodeJS.ProcessEnv;
  const first = await Lifeboat.open({ cwd, env, schedule: false, backupOnStart: 'never' });
  assert.equal((first.db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n, 9);
  first.db.prepare('INSERT INTO items (name) VALUES (?)').run('written after the restore');
  await first.close();
  const second = await Lifeboat.open({ cwd, env, schedule: false, backupOnStart: 'never' });
  assert.equal(
    (second.db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n,
    10,
    'not re-applied: newer data survives',
  );
  await second.close();
  const forced = await Lifeboat.open({
    cwd,
    env: { ...env, HQL_BACKUP_RESTORE_FORCE: 'true' },
    schedule: false,
    backupOnStart: 'never',
  });
  assert.equal((forced.db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n, 9, 'forced re-apply');
  await forced.close();
  await assert.rejects(
    Lifeboat.open({ cwd, env: { ...env, HQL_BACKUP_RESTORE: 'disk:/x' }, schedule: false }),
    (err: unknown) => err instanceof LifeboatError && /HQL_BACKUP_RESTORE.*unknown prefix/.test(err.message),
  );
});

test('CLI: verify is a drill that changes nothing; restore refuses while Lifeboat holds the database', async () => {
  const config = await s3.place();
  const name = backupName(1, 1_790_000_000);
  await uploadBackup(config, name, 12);
  const cwd = tempDir();
  const env = {
    HQL_DATA_DIR: join(cwd, 'data'),
    ...s3Env(config),
    ENC_KEYS: `rotated_out/${A.key.toString('base64')}`,
    ENC_KEY_ACTIVE: 'rotated_out',
  };
  const verify = await runCli(['verify', 's3:latest'], { cwd, env });
  assert.equal(verify.code, 0, verify.stderr);
  assert.match(verify.stdout, /integrity\s+ok/);
  assert.match(verify.stdout, /items\s+12 rows/);
  const json = await runCli(['verify', `s3:${name}`, '--json'], { cwd, env });
  assert.equal(JSON.parse(json.stdout).tables[0].rows, 12);

  const lb = await Lifeboat.open({ cwd, env, schedule: false, backupOnStart: 'never' });
  try {
    const refused = await runCli(['restore', `s3:${name}`], { cwd, env });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /pid \d+.*holds/);
  } finally {
    await lb.close();
  }
  const restored = await runCli(['restore', `s3:${name}`], { cwd, env });
  assert.equal(restored.code, 0, restored.stderr);
  assert.match(restored.stdout, /restored backup_node_1_1790000000\.sqlite/);
  assert.match(restored.stdout, /previous database kept at .*before-restore-/);
  assert.equal(countItems(join(cwd, 'data', 'state_machine', 'db', 'hiqlite.db')), 12);
  const again = await runCli(['restore', `s3:${name}`], { cwd, env });
  assert.equal(again.code, 1);
  assert.match(again.stdout, /not applied.*--force/);
  for (const r of [verify, json, restored, again]) assert.ok(!(r.stdout + r.stderr).includes(config.secret));
});

const latestMeansNewest =
  'CLI restore s3:latest means the newest backup now, even after HQL_BACKUP_RESTORE=s3:latest applied an older one';
test(latestMeansNewest, async () => {
  const config = await s3.place();
  await uploadBackup(config, backupName(1, 1_790_000_000), 3);
  const cwd = tempDir();
  const env = {
    HQL_DATA_DIR: join(cwd, 'data'),
    ...s3Env(config),
    ENC_KEYS: `${A.id}/${A.key.toString('base64')}`,
    ENC_KEY_ACTIVE: A.id,
  };
  const dbFile = join(cwd, 'data', 'state_machine', 'db', 'hiqlite.db');
  const start = async () =>
    (
      await Lifeboat.open({
        cwd,
        env: { ...env, HQL_BACKUP_RESTORE: 's3:latest' },
        schedule: false,
        backupOnStart: 'never',
      })
    ).close();
  await start();
  assert.equal(countItems(dbFile), 3, 'start-up restored the newest backup then');

  await uploadBackup(config, backupName(1, 1_790_086_400), 8);
  const cli = await runCli(['restore', 's3:latest'], { cwd, env });
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /restored backup_node_1_1790086400\.sqlite/);
  assert.equal(countItems(dbFile), 8);
  const again = await runCli(['restore', 's3:latest'], { cwd, env });
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.stdout, /not applied: .*--force/);
  assert.equal(countItems(dbFile), 8);

  // The variable still set at the next start: applied once, so nothing happens to the database.
  new Database(dbFile).prepare('INSERT INTO items (name) VALUES (?)').run('written after the restore');
  await start();
  assert.equal(countItems(dbFile), 9, 'the row the application wrote is kept');
});
