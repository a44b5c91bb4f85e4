import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { S3Config } from '../../src/config/types.js';
import { Capture } from '../../src/pitr/capture/capture.js';
import { Lease, newWriterId } from '../../src/pitr/capture/lease.js';
import { newDbId } from '../../src/pitr/names.js';
import { probeConditionalWrites } from '../../src/pitr/probe.js';
import Database from '../../src/sqlite/driver.js';
import type { S3ConditionalStoreOptions } from '../../src/storage/s3/conditional.js';
import { getTestS3, localTest, type TestS3 } from '../support/s3.js';
import { isLifeboat, openConditionalStore, withProxy } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { KEY_A, KEY_B, keySet } from './fixtures.js';

/**
 * One writer per database, against the real S3 server: the head is taken with If-None-Match
 * and replaced only with If-Match, so a second writer stands by while the first one's lease
 * runs, takes over once it has run out, and the first one then stops at its next renewal
 * instead of writing on. Leases are judged by a fake clock here (in production: S3's clock).
 */

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const LEASE = 60_000;

async function setup(config?: S3Config, options: S3ConditionalStoreOptions = {}) {
  let offset = 0;
  const now = () => Date.now() + offset;
  const store = openConditionalStore(config ?? (await s3.place()), { ...options, now });
  await probeConditionalWrites(store); // as Capture does first: it finds the ETag form If-Match takes here
  const dbId = newDbId();
  const lease = (writerId: string, key = KEY_A, keys = keySet(KEY_A, KEY_B)) =>
    new Lease({ store, key, keys, dbId, writerId, leaseMs: LEASE, now });
  return { store, dbId, lease, advance: (ms: number) => (offset += ms) };
}

test('a second writer waits while the lease runs and takes over when it runs out; the first is fenced', async () => {
  const { lease, advance } = await setup();
  const first = lease(newWriterId());
  await first.acquire('g1');
  const second = lease(newWriterId(), KEY_B);
  await assert.rejects(second.acquire('g2'), (err: Error) => {
    isLifeboat('PITR_LEASE_HELD')(err);
    assert.match(err.message, /shipped by another Lifeboat \(.+, pid \d+\); its lease runs until/);
    return true;
  });

  advance(LEASE / 4);
  const until = first.until;
  await first.renew(); // more than half left: nothing to do
  assert.equal(first.until, until);
  advance(LEASE / 2);
  await first.renew(); // less than half left: renewed
  assert.ok(first.until > until);
  await assert.rejects(second.acquire('g2'), isLifeboat('PITR_LEASE_HELD'), 'renewed, so still held');

  advance(LEASE + 1000); // the first writer went quiet past its lease
  await second.acquire('g2');
  await assert.rejects(first.renew(), (err: Error) => {
    isLifeboat('PITR_FENCED')(err);
    assert.match(err.message, /another writer replaced the head/);
    return true;
  });
});

localTest(
  'a renewal whose answer is lost, and whose retries the head then refuses, still holds the lease',
  async () => {
    // The proxy resets connections as the server starts to answer an If-Match PUT (the one fault
    // here): the head was replaced, and every later try sends the ETag it replaced. Without reading
    // the head back, that 412 read as another writer's takeover and stopped continuous backup.
    const { proxy, config } = await withProxy();
    try {
      const { lease, advance } = await setup(config, { maxAttempts: 3 });
      const first = lease(newWriterId());
      await first.acquire('g1');
      const until = first.until;
      advance(LEASE / 2 + 1000);
      proxy.resetOpen();
      proxy.set({ kind: 'cut', afterBytes: 0, times: 1 });
      await first.renew(); // the SDK's retry meets the write it retries
      assert.equal(proxy.injected, 1, 'the answer to the renewal was cut');
      assert.ok(first.until > until, 'renewed');
      await assert.rejects(lease(newWriterId(), KEY_B).acquire('g2'), isLifeboat('PITR_LEASE_HELD'));

      // Every answer lost for a while: the renewal fails (its outcome unknown), and the next one, with
      // other bytes, meets the head an earlier try wrote.
      advance(LEASE / 2 + 1000);
      proxy.resetOpen();
      proxy.set({ kind: 'cut', afterBytes: 0, times: Infinity });
      await assert.rejects(first.renew(), isLifeboat(/^S3_/));
      assert.ok(proxy.injected >= 2, `answers cut: ${proxy.injected}`);
      proxy.set({ kind: 'none' });
      await first.renew();
      advance(LEASE / 2 + 1000);
      await first.renew(); // with the ETag read back: the next renewal's If-Match holds
      await assert.rejects(lease(newWriterId(), KEY_B).acquire('g2'), isLifeboat('PITR_LEASE_HELD'));
    } finally {
      await proxy.close();
    }
  },
);

test('a writer whose key set lacks the key of the head that replaced its own is fenced, not stuck', async () => {
  const { lease, advance } = await setup();
  const first = lease(newWriterId(), KEY_A, keySet(KEY_A));
  await first.acquire('g1');
  advance(LEASE + 1000);
  await lease(newWriterId(), KEY_B).acquire('g2');
  // The head it reads back after its refused If-Match is sealed under KEY_B, which it cannot open.
  await assert.rejects(first.renew(), isLifeboat('PITR_FENCED'));
});

test('the same writer after a restart takes its head back at once; a released lease is free at once', async () => {
  const { lease } = await setup();
  const id = newWriterId();
  await lease(id).acquire('g1');
  const again = lease(id);
  await again.acquire('g2'); // the lease still runs, but it is this writer's own
  await again.release();
  await lease(newWriterId()).acquire('g3'); // released: no wait for the lease
});

test('a second capture of the same database does not start while the first one runs', async () => {
  const dir = tempDir();
  const dbPath = join(dir, 'app.sqlite');
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (x)');
  const store = openConditionalStore(await s3.place());
  const dbId = newDbId();
  const first = await Capture.start({ dbPath, dbId, store, key: KEY_A, workDir: join(dir, 'a') });
  try {
    await assert.rejects(
      Capture.start({ dbPath, dbId, store, key: KEY_A, workDir: join(dir, 'b') }),
      isLifeboat('PITR_LEASE_HELD'),
    );
    db.exec('INSERT INTO t VALUES (1)');
    assert.ok((await first.flush()) > 0, 'the first one goes on shipping');
  } finally {
    await first.close();
    db.close();
  }
});
