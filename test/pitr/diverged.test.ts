import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { before, test } from 'node:test';
import { createLogger } from '../../src/log.js';
import { Capture } from '../../src/pitr/capture/capture.js';
import { newDbId } from '../../src/pitr/names.js';
import { restorePitr } from '../../src/pitr/restore/apply.js';
import Database from '../../src/sqlite/driver.js';
import { getTestS3, type TestS3 } from '../support/s3.js';
import { openConditionalStore } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { KEY_A, keySet } from './fixtures.js';

/**
 * A database file damaged under continuous backup (a page changed without a transaction, as a
 * bad disk does), against the real S3 server: the next base inside the generation is refused as
 * diverged — an error in the log, a counter an alert watches (lifeboat_pitr_base_failures_total)
 * — and shipping goes on, so the bucket still restores every transaction as committed, the
 * undamaged row with them.
 */

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

test('a page changed on disk outside a transaction: the base is refused, loudly; shipping goes on', async () => {
  const dir = tempDir();
  const path = join(dir, 'app.sqlite');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE cold (k INTEGER PRIMARY KEY, v TEXT); CREATE TABLE t (k INTEGER PRIMARY KEY, pad BLOB)');
  db.prepare('INSERT INTO cold (k, v) VALUES (1, ?)').run('original-value-0123456789');
  db.pragma('wal_checkpoint(TRUNCATE)');
  const store = openConditionalStore(await s3.place());
  const dbId = newDbId();
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const log = createLogger({ level: 'info', format: 'json', stream });
  // A base of a few pages: a handful of commits outweigh it, and a base inside the generation is tried.
  const capture = await Capture.start({ dbPath: path, dbId, store, key: KEY_A, rebaseRatio: 2, pollMs: 20, log });
  try {
    // The cold row's bytes change in the database file: no transaction, no WAL frame.
    const file = readFileSync(path);
    const at = file.indexOf('original-value');
    assert.ok(at > 0, 'the row is in the database file');
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from('damaged--value'), 0, 14, at);
    closeSync(fd);
    assert.equal(
      (db.prepare('SELECT v FROM cold').get() as { v: string }).v.slice(0, 14),
      'original-value',
      "the application's page cache still has the row as it was",
    );

    let failed: { txid: number; diverged: boolean; message: string } | undefined;
    capture.once('base-failed', (e: typeof failed) => {
      failed = e;
    });
    const insert = db.prepare('INSERT INTO t (k, pad) VALUES (?, randomblob(2000))');
    let k = 0;
    while (!failed) {
      assert.ok(++k < 400, 'a base inside the generation was tried');
      insert.run(k);
      await capture.flush();
    }
    assert.equal(failed.diverged, true, failed.message);
    assert.deepEqual(capture.status().baseFailures, { diverged: 1, other: 0 });
    const record = lines.map((l) => JSON.parse(l) as { level: string; msg: string }).find((r) => r.level === 'error');
    assert.match(
      record?.msg ?? '',
      /is not what its WAL history says at txid \d+: a page changed without a transaction/,
    );

    // Shipping went on: the bucket restores the last commit, with the row as it was committed.
    insert.run(++k);
    const last = await capture.flush();
    const restored = join(dir, 'restored.sqlite');
    const got = await restorePitr({ store, keys: keySet(KEY_A), dbId, target: { kind: 'latest' }, path: restored });
    assert.equal(got.txid, last);
    const rows = new Database(restored, { readonly: true });
    try {
      assert.equal((rows.prepare('SELECT v FROM cold').get() as { v: string }).v, 'original-value-0123456789');
      assert.equal((rows.prepare('SELECT max(k) AS k FROM t').get() as { k: number }).k, k);
    } finally {
      rows.close();
    }
  } finally {
    await capture.close();
    db.close();
  }
});
