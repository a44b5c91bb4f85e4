import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openEncryptedFile } from '../../src/crypto/encrypted-file.js';
import { generateKey, parseKeySet } from '../../src/crypto/keys.js';
import { lockOwner } from '../../src/fs/lock.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { storeObject } from '../../src/storage/store.js';
import { createItemsDb } from '../support/db.js';
import { localTest, s3Env } from '../support/s3.js';
import { withProxy } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';

// Issue #14: a SIGTERM during a start-up restore (a long download: Kubernetes stopping a pod)
// must stop cleanly — no temp copy left, the database untouched, the lock free.

const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));

localTest('SIGTERM while serve downloads HQL_BACKUP_RESTORE: it stops cleanly and changes nothing', async () => {
  const { proxy, config, direct } = await withProxy();
  try {
    const dir = tempDir();
    const keyLine = generateKey('k1');
    const keys = parseKeySet({ entries: [keyLine], active: 'k1', entriesName: 'k', activeName: 'a' }).keySet!;
    // A backup of a few MB, served slowly so the download is under way when the signal comes.
    const big = join(dir, 'big.sqlite');
    createItemsDb(big, 20_000);
    const source = await openEncryptedFile(big, keys.active);
    await storeObject(new S3Store(direct), 'backup_node_1_1790000000.sqlite', source);
    await source.close();
    // Per connection: the restore fetches 4 ranges at once, so about 100 KB/s in all (~45 s for it all).
    proxy.set({ kind: 'throttle', bytesPerSecond: 25_000 });
    const dataDir = join(dir, 'data');
    const dbDir = join(dataDir, 'state_machine', 'db');
    mkdirSync(dbDir, { recursive: true });
    const dbFile = join(dbDir, 'hiqlite.db');
    createItemsDb(dbFile, 3);
    const before = readFileSync(dbFile);
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), ENTRY, 'serve'], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        HQL_DATA_DIR: dataDir,
        ...s3Env(config),
        ENC_KEYS: keyLine,
        ENC_KEY_ACTIVE: 'k1',
        HQL_BACKUP_RESTORE: 's3:latest',
        LIFEBOAT_LOG_FORMAT: 'json',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const exited = once(child, 'exit');
    // Wait (polling, with a deadline) until the download has written its temp copy.
    const deadline = Date.now() + 60_000;
    const temps = () => readdirSync(dbDir).filter((f) => f.startsWith('.lifeboat-tmp-'));
    while (temps().length === 0) {
      assert.ok(Date.now() < deadline, `the download never started: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const stopped = Date.now();
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.ok(Date.now() - stopped < 10_000, `it stopped ${Date.now() - stopped} ms after the signal`);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /interrupted while fetching it; nothing was changed/);
    assert.deepEqual(temps(), [], 'the partial copy is removed');
    assert.ok(readFileSync(dbFile).equals(before), 'the database is untouched');
    assert.ok(!existsSync(`${dbFile}.lifeboat-restore-intent.json`));
    assert.equal(await lockOwner(`${dbFile}.lifeboat.lock`), undefined, 'the lock is free');
  } finally {
    await proxy.close();
  }
});
