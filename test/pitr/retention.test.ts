import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { Capture } from '../../src/pitr/capture/capture.js';
import { dbPrefix, holdName, newDbId, newRandomId, parsePitrName } from '../../src/pitr/names.js';
import { restorePitr } from '../../src/pitr/restore/apply.js';
import { placeHold } from '../../src/pitr/restore/hold.js';
import Database from '../../src/sqlite/driver.js';
import type { PitrObjectStore } from '../../src/storage/object-store.js';
import { getTestS3, type TestS3 } from '../support/s3.js';
import { openConditionalStore } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { KEY_A, keySet } from './fixtures.js';

/**
 * Restore work stays bounded and the bucket does not grow for ever, against the real S3 server:
 * once the segments outweigh the base, capture starts a new generation with a fresh base (and
 * every transaction stays restorable, old generation or new); generations whose newest commit
 * is older than the window are deleted, never the current one.
 */

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

async function generations(store: PitrObjectStore, dbId: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const o of await store.list(dbPrefix(dbId))) {
    const name = parsePitrName(o.key);
    if (name && 'genId' in name) out.set(name.genId, (out.get(name.genId) ?? 0) + 1);
  }
  return out;
}

function liveDb(dir: string) {
  const path = join(dir, 'app.sqlite');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, pad BLOB)');
  const insert = db.prepare('INSERT INTO t (k, pad) VALUES (?, randomblob(2000))');
  return { path, db, insert };
}

/** A database whose continuous backup has one generation (one commit), its capture closed. */
async function oneOldGeneration() {
  const app = liveDb(tempDir());
  const store = openConditionalStore(await s3.place());
  const dbId = newDbId();
  const first = await Capture.start({ dbPath: app.path, dbId, store, key: KEY_A });
  app.insert.run(1);
  await first.flush();
  await first.close();
  return { app, store, dbId, old: [...(await generations(store, dbId)).keys()] };
}

test('segments that outweigh the base start a new generation; every transaction stays restorable', async () => {
  const dir = tempDir();
  const app = liveDb(dir);
  const store = openConditionalStore(await s3.place());
  const dbId = newDbId();
  // A base of a few pages: a handful of commits outweigh it.
  const capture = await Capture.start({ dbPath: app.path, dbId, store, key: KEY_A, rebaseRatio: 2, pollMs: 20 });
  const bases: number[] = [];
  capture.on('generation', ({ baseTxid }: { baseTxid: number }) => bases.push(baseTxid));
  const txids: Array<{ txid: number; k: number }> = [];
  try {
    for (let k = 1; k <= 30; k++) {
      app.insert.run(k);
      txids.push({ txid: await capture.flush(), k });
    }
  } finally {
    await capture.close();
  }
  assert.ok(bases.length >= 2, `re-based ${bases.length} times`);
  assert.ok((await generations(store, dbId)).size >= 3, 'the first generation and the re-based ones');
  for (const { txid, k } of txids) {
    const path = join(dir, `r${txid}.sqlite`);
    const got = await restorePitr({ store, keys: keySet(KEY_A), dbId, target: { kind: 'txid', txid }, path });
    assert.equal(got.txid, txid);
    const rows = new Database(path, { readonly: true });
    assert.equal((rows.prepare('SELECT max(k) AS k FROM t').get() as { k: number }).k, k, `txid ${txid}`);
    rows.close();
  }
  app.db.close();
});

test('generations older than the window are deleted once something is shipped; the current one never', async () => {
  const { app, store, dbId, old } = await oneOldGeneration();
  assert.equal(old.length, 1);

  // Eight days later (the default window is seven).
  const later = () => Date.now() + 8 * 86_400_000;
  const second = await Capture.start({ dbPath: app.path, dbId, store, key: KEY_A, now: later });
  try {
    const current = second.status().genId!;
    assert.deepEqual([...(await generations(store, dbId)).keys()].sort(), [...old, current].sort());
    const deleted = once(second, 'retention');
    app.insert.run(2);
    await second.flush();
    assert.deepEqual((await deleted)[0], { deleted: old });
    assert.deepEqual([...(await generations(store, dbId)).keys()], [current], 'only the current generation is left');
  } finally {
    await second.close();
    app.db.close();
  }
});

test('a restore’s hold pauses retention; a hold whose restore died runs out and is removed', async () => {
  const { app, store, dbId, old } = await oneOldGeneration();

  // A restore is running (its hold in force) when the writer, eight days later, looks at retention.
  const hold = await placeHold(store, dbId);
  const later = () => Date.now() + 8 * 86_400_000;
  // Retention looks after every shipment; no re-base (a new generation's base is a shipment too).
  const second = await Capture.start({
    dbPath: app.path,
    dbId,
    store,
    key: KEY_A,
    now: later,
    retentionEveryMs: 0,
    rebaseRatio: 1000,
  });
  try {
    const current = second.status().genId!;
    const held = once(second, 'retention');
    app.insert.run(2);
    await second.flush();
    assert.deepEqual((await held)[0], { deleted: [], held: [hold.key] });
    assert.deepEqual([...(await generations(store, dbId)).keys()].sort(), [...old, current].sort(), 'nothing deleted');

    // The restore ends; another one died with its hold in the bucket, which has run out.
    await hold.release();
    const dead = holdName(dbId, newRandomId());
    await store.putIfAbsent(dead, Buffer.from(JSON.stringify({ expiresMs: 1 })));
    const deleted = once(second, 'retention');
    app.insert.run(3);
    await second.flush();
    assert.deepEqual((await deleted)[0], { deleted: old });
    assert.deepEqual([...(await generations(store, dbId)).keys()], [current]);
    assert.equal(await store.get(dead), undefined, 'the expired hold is removed');
  } finally {
    await second.close();
    app.db.close();
  }
});
