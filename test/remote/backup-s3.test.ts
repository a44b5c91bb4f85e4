import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { before, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { type BackupPlan, RemotePushError, runBackup } from '../../src/backup/job.js';
import { backupName } from '../../src/backup/naming.js';
import type { S3Config } from '../../src/config/types.js';
import { decodeHeader } from '../../src/crypto/format.js';
import { createKeySet, generateKey } from '../../src/crypto/keys.js';
import { createDecryptStream } from '../../src/crypto/stream.js';
import { LifeboatError } from '../../src/errors.js';
import { createLogger, silentLogger } from '../../src/log.js';
import Database from '../../src/sqlite/driver.js';
import { LocalStore } from '../../src/storage/local.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { runCli } from '../support/cli.js';
import { createItemsDb } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { backupFiles } from '../support/folder.js';
import { observeStage } from '../support/observed-store.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { danglingUploads } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const KEYS = createKeySet(
  [
    { id: 'old', key: Buffer.alloc(32, 1) },
    { id: 'current', key: Buffer.alloc(32, 2) },
  ],
  'current',
);
const NOW = new Date('2026-11-24T02:30:00Z');
const NOW_S = NOW.getTime() / 1000;

function job(config: S3Config, over: Partial<BackupPlan> = {}): BackupPlan {
  const dir = tempDir();
  const db = join(dir, 'app.db');
  createItemsDb(db, 2000);
  return {
    dbFile: db,
    nodeId: 1,
    local: new LocalStore(join(dir, 'backups')),
    lockFile: join(dir, 'backups', '.lifeboat-backup.lock'),
    keepDaysLocal: 3,
    remote: { store: new S3Store(config), key: KEYS.active },
    keepDaysRemote: 30,
    keepMin: 1,
    expectTables: [],
    clock: new FakeClock(NOW),
    logger: silentLogger(),
    ...over,
  };
}

const eachBackupPushed =
  'each backup is pushed encrypted with the active key under the same name, and decrypts to the local file';
test(eachBackupPushed, async () => {
  const config = await s3.place();
  const options = job(config);
  const report = await runBackup(options);
  assert.equal(report.remote?.object, report.name);
  const store = new S3Store(config);
  const raw = await buffer(await store.get(report.name));
  assert.equal(decodeHeader(raw)?.header.keyId, 'current');
  assert.equal(decodeHeader(raw)?.header.chunkKiB, 128);
  const plain = await buffer((await store.get(report.name)).pipe(createDecryptStream(KEYS)));
  assert.ok(plain.equals(readFileSync(report.path)), 'the remote copy is the local backup, encrypted');
});

test('a database larger than a part goes up in parts while it is checked, and decrypts to the local file', async () => {
  const config = await s3.place();
  const store = new S3Store(config, { partSizeBytes: 5 * 1024 * 1024, queueSize: 2 });
  const options = job(config, { remote: { store, key: KEYS.active } });
  createItemsDb(options.dbFile, 50_000); // ~12 MB: three parts
  const seen: Array<[string, number, number | undefined]> = [];
  const report = await runBackup({ ...options, onProgress: (stage, bytes, total) => seen.push([stage, bytes, total]) });
  assert.ok(report.bytes > 10 * 1024 * 1024, `database of ${report.bytes} bytes`);
  const plain = await buffer((await store.get(report.name)).pipe(createDecryptStream(KEYS)));
  assert.ok(plain.equals(readFileSync(report.path)));
  const uploads = seen.filter(([stage]) => stage === 'upload');
  assert.ok(uploads.length > 1);
  assert.equal(uploads.at(-1)?.[1], uploads.at(-1)?.[2], 'the upload progress ends at its total');
  assert.deepEqual(seen[0], ['copy', 0, seen[0]?.[2]], 'the snapshot reports first');
  assert.ok(seen.findIndex(([s]) => s === 'check') > 0, 'then its check');
  assert.equal(await danglingUploads(config), 0);
});

const snapshotFailsCheck =
  'a snapshot that fails its check while its push is under way: nothing reaches the store, no upload is left';
test(snapshotFailsCheck, async () => {
  const config = await s3.place();
  const real = new S3Store(config, { partSizeBytes: 5 * 1024 * 1024, queueSize: 2 });
  let putStarted = false;
  // Delegates to the real store; only records that the push began before the check ended.
  const store = observeStage(real, () => {
    putStarted = true;
  });

  const options = job(config, { remote: { store, key: KEYS.active } });
  createItemsDb(options.dbFile, 50_000);
  // Garbage over a b-tree page: the backup API copies it as it is, quick_check refuses it.
  const fd = openSync(options.dbFile, 'r+');
  try {
    writeSync(fd, Buffer.alloc(4096, 0xff), 0, 4096, 4096 * 1500);
  } finally {
    closeSync(fd);
  }
  await assert.rejects(
    runBackup(options),
    (err: unknown) =>
      err instanceof LifeboatError && err.code === 'SNAPSHOT_CORRUPT' && !(err instanceof RemotePushError),
  );
  assert.ok(putStarted, 'the push had started from the copy');
  assert.deepEqual(await real.list(), []);
  assert.equal(await danglingUploads(config), 0);
  assert.deepEqual(backupFiles(options.local.dir), [], 'no local backup and no temp file');
});

test('remote retention deletes old backups only, keeps foreign objects and the newest', async () => {
  const config = await s3.place();
  const client = s3.client();
  const old = [backupName(1, NOW_S - 31 * 86_400), backupName(2, NOW_S - 400 * 86_400)];
  const young = [backupName(1, NOW_S - 29 * 86_400)];
  for (const key of [...old, ...young, 'notes.txt', 'backup_node_1_1.sqlite.partial']) {
    await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: `${config.prefix}${key}`, Body: 'x' }));
  }
  const report = await runBackup(job(config));
  assert.deepEqual([...(report.remote?.expired ?? [])].sort(), [...old].sort());
  const left = (await new S3Store(config).list()).map((o) => o.name).sort();
  assert.deepEqual(left, [report.name, ...young, 'notes.txt', 'backup_node_1_1.sqlite.partial'].sort());
});

test('a push that fails for good keeps the local backup and says so', async () => {
  const config = await s3.place();
  const options = job({ ...config, secret: 'not-the-secret' });
  await assert.rejects(runBackup(options), (err: unknown) => {
    assert.ok(err instanceof RemotePushError, String(err));
    assert.match(err.message, /saved locally at .*backup_node_1_\d+\.sqlite but the push to the remote store failed/);
    assert.ok(!err.message.includes('not-the-secret'));
    return true;
  });
  assert.deepEqual(backupFiles(options.local.dir), [backupName(1, NOW_S)]);
  assert.deepEqual(await new S3Store(config).list(), []);
});

test('CLI: backup pushes and prints the object; list shows local and remote', async () => {
  const config = await s3.place();
  const dir = tempDir();
  const db = join(dir, 'app.db');
  createItemsDb(db, 100);
  const key = generateKey('cli');
  const env = {
    HQL_DATA_DIR: join(dir, 'data'),
    ...s3Env(config),
    ENC_KEYS: key,
    ENC_KEY_ACTIVE: 'cli',
  };
  const res = await runCli(['backup', '--db', db], { cwd: dir, env });
  assert.equal(res.code, 0, res.stderr);
  const name = /backup\s+(backup_node_1_\d+\.sqlite)/.exec(res.stdout)?.[1];
  assert.ok(name);
  assert.match(res.stdout, new RegExp(`remote\\s+${name.replace('.', '\\.')} on s3 bucket "${config.bucket}"`));
  const list = await runCli(['list', '--json'], { cwd: dir, env });
  const rows = (JSON.parse(list.stdout) as { backups: Array<{ where: string; name: string }> }).backups;
  assert.deepEqual(
    rows.map((r) => [r.where, r.name]).sort(),
    [
      ['local', name],
      ['remote', name],
    ].sort(),
  );
  const remoteOnly = await runCli(['list', '--remote'], { cwd: dir, env });
  assert.match(remoteOnly.stdout, /remote\s+backup_node_1_/);
  assert.doesNotMatch(remoteOnly.stdout, /^local/m);
  for (const r of [res, list, remoteOnly]) assert.ok(!(r.stdout + r.stderr).includes(config.secret));
  // A bad secret: S3 is not asked first, so the local backup is taken and kept; only the push fails (exit 3).
  const bad = await runCli(['backup', '--db', db], { cwd: dir, env: { ...env, HQL_S3_SECRET: 'wrong-secret-zz' } });
  assert.equal(bad.code, 3, bad.stderr);
  assert.match(bad.stderr, /saved locally at .* but the push to the remote store failed: .*credentials were rejected/);
  assert.match(bad.stderr, /hint: .*HQL_S3_SECRET/);
  const kept = /backup\s+(backup_node_1_\d+\.sqlite)/.exec(bad.stdout)?.[1];
  assert.ok(kept && kept !== name && existsSync(join(dir, 'data', 'state_machine', 'backups', kept)), bad.stdout);
  assert.ok(!(bad.stdout + bad.stderr).includes('wrong-secret-zz'));
});

test('app holding its write lock: the copy falls back to the backup API, the finished file is pushed', async () => {
  const config = await s3.place();
  const lines: string[] = [];
  const logger = createLogger({
    format: 'json',
    stream: new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    }),
  });
  const options = job(config, { logger });
  const app = new Database(options.dbFile);
  app.exec('BEGIN IMMEDIATE'); // held longer than the copy waits for a pause between transactions
  let report: Awaited<ReturnType<typeof runBackup>>;
  try {
    report = await runBackup(options);
  } finally {
    app.exec('ROLLBACK');
    app.close();
  }
  const written = lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.msg === 'local backup written and verified');
  assert.equal(written?.copy, 'backup-api');
  assert.match(String(written?.fallback), /write transactions within/);
  const plain = await buffer((await new S3Store(config).get(report.name)).pipe(createDecryptStream(KEYS)));
  assert.ok(plain.equals(readFileSync(report.path)), 'the remote copy is the finished local backup');
  assert.equal(await danglingUploads(config), 0);
});
