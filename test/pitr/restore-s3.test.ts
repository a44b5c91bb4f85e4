// Point-in-time restore against the real S3 server (radosgw on 127.0.0.1, or the user's own S3
// in conformance mode) through S3ConditionalStore: a real SQLite database's base (larger than
// a part, so it goes up multipart) and segments, restored to several points.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { restorePitr } from '../../src/pitr/restore/apply.js';
import type { PitrObjectStore } from '../../src/storage/object-store.js';
import { pragmaCheck } from '../support/db.js';
import { overriding } from '../support/observed-store.js';
import { getTestS3, type TestS3 } from '../support/s3.js';
import { danglingUploads, isLifeboat, openConditionalStore } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { DB_ID, GEN_ID, KEY_A, keySet } from './fixtures.js';
import { itemsOf, shipRealDatabase } from './sqlite-chain.js';

const MiB = 1024 * 1024;

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

test('a real database shipped to S3 restores to its points; a deleted middle segment stops the restore', async () => {
  const config = await s3.place();
  const store = openConditionalStore(config, { partSizeBytes: 5 * MiB });
  // ~2,200 rows of 3 KB: a base of about 7 MiB, two parts.
  const shipped = await shipRealDatabase(
    store,
    tempDir(),
    KEY_A,
    { dbId: DB_ID, genId: GEN_ID },
    { padRows: 2200, txPerSegment: 4 },
  );
  const listed = await store.list(`lifeboat-pitr/${DB_ID}/`);
  const base = listed.find((o) => o.key.endsWith('.lbb'))!;
  assert.ok(base.size > 5 * MiB, `the base is ${base.size} bytes`);
  const head = await s3
    .client()
    .send(new HeadObjectCommand({ Bucket: config.bucket, Key: `${config.prefix}${base.key}` }));
  assert.match(head.ETag ?? '', /-2"?$/, 'uploaded in two parts');
  assert.equal(await danglingUploads(config), 0);

  const dir = tempDir();
  for (const txid of [shipped.baseTxid, shipped.baseTxid + 5, shipped.lastTxid]) {
    const path = join(dir, `at-${txid}.db`);
    const r = await restorePitr({ store, keys: keySet(KEY_A), dbId: DB_ID, target: { kind: 'txid', txid }, path });
    assert.equal(r.txid, txid);
    assert.equal(r.newestTxid, shipped.lastTxid);
    assert.equal(itemsOf(path), shipped.rows.get(txid), `rows at txid ${txid}`);
    assert.deepEqual(pragmaCheck(path, 'integrity_check'), ['ok']);
  }

  const segments = listed.filter((o) => o.key.endsWith('.lbs'));
  assert.equal(segments.length, 3);
  await store.delete(segments[1]!.key);
  const path = join(dir, 'gap.db');
  await assert.rejects(
    restorePitr({ store, keys: keySet(KEY_A), dbId: DB_ID, target: { kind: 'latest' }, path }),
    (err) => isLifeboat('PITR_CHAIN_GAP')(err) && (err as Error).message.includes('seq 2 is missing'),
  );
  assert.ok(!existsSync(path));
  // What lies before the hole is still restorable, by txid.
  const early = join(dir, 'early.db');
  const r = await restorePitr({
    store,
    keys: keySet(KEY_A),
    dbId: DB_ID,
    target: { kind: 'txid', txid: shipped.baseTxid + 2 },
    path: early,
  });
  assert.equal(itemsOf(early), shipped.rows.get(r.txid));
});

/** The real store; the keys written and deleted are recorded, and each GET of a segment counts the holds. */
function recording(store: PitrObjectStore, refuseHolds = false) {
  const seen = { created: [] as string[], deleted: [] as string[], holdsAtSegments: [] as number[] };
  const proxy = overriding(store, {
    putIfAbsent: async (key, body) => {
      // Injected: a credential that may only read (one radosgw user here cannot refuse on demand).
      if (refuseHolds && key.includes('/holds/')) throw new Error('AccessDenied: injected for the test');
      seen.created.push(key);
      return store.putIfAbsent(key, body);
    },
    delete: async (key) => {
      seen.deleted.push(key);
      return store.delete(key);
    },
    get: async (key) => {
      if (key.endsWith('.lbs')) seen.holdsAtSegments.push((await store.list(`lifeboat-pitr/${DB_ID}/holds/`)).length);
      return store.get(key);
    },
  });
  return { store: proxy, seen };
}

test('a restore holds its database while it runs and then removes the hold; no hold does not stop it', async () => {
  const store = openConditionalStore(await s3.place());
  const shipped = await shipRealDatabase(
    store,
    tempDir(),
    KEY_A,
    { dbId: DB_ID, genId: GEN_ID },
    { padRows: 50, txPerSegment: 4 },
  );
  const dir = tempDir();
  const target = { kind: 'latest' } as const;

  const held = recording(store);
  await restorePitr({ store: held.store, keys: keySet(KEY_A), dbId: DB_ID, target, path: join(dir, 'a.db') });
  const holds = held.seen.created.filter((k) => k.includes('/holds/'));
  assert.equal(holds.length, 1, 'one hold placed');
  assert.deepEqual(held.seen.deleted, holds, 'and deleted at the end');
  assert.ok(held.seen.holdsAtSegments.length > 0);
  assert.ok(
    held.seen.holdsAtSegments.every((n) => n === 1),
    'in the bucket while segments were read',
  );
  assert.deepEqual(await store.list(`lifeboat-pitr/${DB_ID}/holds/`), []);

  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(line) });
  const refused = recording(store, true);
  const got = await restorePitr({
    store: refused.store,
    keys: keySet(KEY_A),
    dbId: DB_ID,
    target,
    path: join(dir, 'b.db'),
    log,
  });
  assert.equal(got.txid, shipped.lastTxid, 'restored all the same');
  assert.equal(itemsOf(join(dir, 'b.db')), shipped.rows.get(shipped.lastTxid));
  assert.ok(
    lines.some((l) => l.includes('could not place a hold')),
    'and said so',
  );
});
