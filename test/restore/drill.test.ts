// `lifeboat verify` as a restore drill: what it warns about, --strict, and that its temp folders
// (which hold a plaintext copy of a backup) never outlive it: removed on Ctrl-C, and removed by
// the next drill when one was killed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createEncryptStream } from '../../src/crypto/stream.js';
import { acquireLock } from '../../src/fs/lock.js';
import { drillWarnings, previousBackup, removeLeftoverDrills } from '../../src/restore/drill.js';
import Database from '../../src/sqlite/driver.js';
import { LocalStore } from '../../src/storage/local.js';
import { runCli } from '../support/cli.js';
import { createItemsDb } from '../support/db.js';
import { getTestS3, s3Env } from '../support/s3.js';
import { withProxy } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';

test('drillWarnings: a backup with no tables, or less than half the size of the one before', () => {
  const name = 'backup_node_1_1790086400.sqlite';
  assert.deepEqual(drillWarnings({ name, tables: 3, size: 1000 }, { name: 'b', size: 1999 }), []);
  assert.deepEqual(drillWarnings({ name, tables: 3, size: 1000 }, undefined), []);
  const smaller = drillWarnings({ name, tables: 3, size: 999 }, { name: 'b', size: 1999 });
  assert.equal(smaller.length, 1);
  assert.match(smaller[0]!, /less than half the size .*999 against 1999 bytes in b/);
  const empty = drillWarnings({ name, tables: 0, size: 4096 }, undefined);
  assert.match(empty[0]!, /has no tables/);
});

test('previousBackup: the one before by the time in the names, not by listing order', async () => {
  const dir = tempDir();
  const store = new LocalStore(dir);
  for (const [name, size] of [
    ['backup_node_1_1790086400.sqlite', 3],
    ['backup_node_1_1789000000.sqlite', 1],
    ['backup_node_1_1790000000.sqlite', 2],
  ] as const) {
    createItemsDb(join(dir, name), size);
  }
  assert.equal(
    (await previousBackup(store, 'backup_node_1_1790086400.sqlite'))?.name,
    'backup_node_1_1790000000.sqlite',
  );
  assert.equal(await previousBackup(store, 'backup_node_1_1789000000.sqlite'), undefined);
  assert.equal(await previousBackup(store, 'backup_node_1_1.sqlite'), undefined);
});

test('removeLeftoverDrills: only folders of drills that are gone, and not in their first minute', async () => {
  const root = tempDir();
  const now = Date.now();
  const age = (path: string, ms: number) => utimesSync(path, (now - ms) / 1000, (now - ms) / 1000);
  const make = (name: string, ageMs: number) => {
    const path = join(root, name);
    mkdirSync(path);
    age(path, ageMs);
    return path;
  };
  const killed = make('lifeboat-verify-killed', 3_600_000);
  const running = make('lifeboat-verify-running', 3_600_000);
  const lock = await acquireLock(join(running, '.lock'), 'verify');
  age(running, 3_600_000); // the lock file made it young again
  const young = make('lifeboat-verify-young', 1_000);
  const other = make('app-cache', 3_600_000);
  try {
    assert.deepEqual(await removeLeftoverDrills(root, now), [killed]);
    assert.deepEqual(readdirSync(root).sort(), ['app-cache', 'lifeboat-verify-running', 'lifeboat-verify-young']);
    assert.ok(existsSync(young) && existsSync(other));
  } finally {
    await lock.release();
  }
  age(running, 3_600_000);
  assert.deepEqual(await removeLeftoverDrills(root, now), [running], 'its drill is gone now');
});

test('verify warns about a backup much smaller than the one before; --strict makes that exit 1', async () => {
  const cwd = tempDir();
  const backups = join(cwd, 'data', 'state_machine', 'backups');
  mkdirSync(backups, { recursive: true });
  for (const [name, rows] of [
    ['backup_node_1_1790000000.sqlite', 20_000],
    ['backup_node_1_1790086400.sqlite', 10],
  ] as const) {
    createItemsDb(join(backups, name), rows);
    new Database(join(backups, name)).pragma('journal_mode = DELETE');
  }
  const env = { HQL_DATA_DIR: join(cwd, 'data') };
  const plain = await runCli(['verify', 'local:latest'], { cwd, env });
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /warning\s+backup_node_1_1790086400\.sqlite is less than half the size/);
  const strict = await runCli(['verify', 'local:latest', '--strict', '--json'], { cwd, env });
  assert.equal(strict.code, 1, strict.stderr);
  const report = JSON.parse(strict.stdout) as { ok: boolean; warnings: string[] };
  assert.equal(report.ok, true, 'the backup itself is sound');
  assert.equal(report.warnings.length, 1);
  const older = await runCli(['verify', 'backup_node_1_1790000000.sqlite', '--strict'], { cwd, env });
  assert.equal(older.code, 0, `${older.stdout}${older.stderr}`);
  assert.doesNotMatch(older.stdout, /warning/);
});

const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));
const KEY = { id: 'k1', key: Buffer.alloc(32, 0x07) };

test('Ctrl-C during a drill stops the download and removes its temp folder (a plaintext copy)', async () => {
  const s3 = await getTestS3();
  const { proxy, config, direct } = await withProxy();
  try {
    const name = 'backup_node_1_1790000000.sqlite';
    const plain = join(tempDir(), name);
    createItemsDb(plain, 40_000);
    const body = await buffer(createReadStream(plain).pipe(createEncryptStream(KEY)));
    await s3.client().send(new PutObjectCommand({ Bucket: direct.bucket, Key: `${direct.prefix}${name}`, Body: body }));
    const cwd = tempDir();
    const scratch = join(cwd, 'scratch');
    mkdirSync(scratch);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HQL_DATA_DIR: join(cwd, 'data'),
      ...s3Env(config),
      ENC_KEYS: `${KEY.id}/${KEY.key.toString('base64')}`,
      ENC_KEY_ACTIVE: KEY.id,
    };
    // The download crawls, so the drill is certainly still running when the signal comes.
    proxy.set({ kind: 'throttle', bytesPerSecond: 16 * 1024 });
    const child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), ENTRY, 'verify', `s3:${name}`, '--temp-dir', scratch],
      { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Polls the folder (observable state, not a sleep as synchronisation) until the copy has bytes.
    const deadline = performance.now() + 60_000;
    for (;;) {
      const drill = readdirSync(scratch).find((f) => f.startsWith('lifeboat-verify-'));
      const copy = drill && join(scratch, drill, 'backup.sqlite');
      if (copy && existsSync(copy) && statSync(copy).size > 0) break;
      assert.ok(performance.now() < deadline, `the drill did not start downloading: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const t0 = performance.now();
    child.kill('SIGINT');
    const code = await exited;
    assert.ok(performance.now() - t0 < 10_000, 'it stopped at once');
    assert.equal(code, 1, stderr);
    assert.match(stderr, /SIGINT: stopping/);
    assert.deepEqual(readdirSync(scratch), [], 'the temp folder with the plaintext copy is gone');
  } finally {
    await proxy.close();
  }
});
