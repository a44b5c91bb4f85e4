// The conditional store of continuous backup (src/storage/s3/conditional.ts) against the real
// S3 server: radosgw on 127.0.0.1, or the user's own S3 in conformance mode. What RGW 16.2
// answers is recorded in /work/shared/notes/real-s3-server.md; nothing here assumes more.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { before, test } from 'node:test';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Config } from '../../src/config/types.js';
import { probeConditionalWrites } from '../../src/pitr/probe.js';
import { createOwn, replaceOwn } from '../../src/storage/object-store.js';
import { patternSource } from '../support/range-source.js';
import { getTestS3, localTest, type TestS3 } from '../support/s3.js';
import { danglingUploads, isLifeboat, openConditionalStore, withProxy } from '../support/s3-checks.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

/** The keys in the bucket under the place's prefix, as the server lists them (not through the store). */
async function rawKeys(config: S3Config): Promise<string[]> {
  const res = await s3
    .client()
    .send(new ListObjectsV2Command({ Bucket: config.bucket, Prefix: config.prefix || undefined }));
  return (res.Contents ?? []).map((o) => o.Key ?? '');
}

test('putIfAbsent creates once; the second create is "exists" and leaves the first bytes', async () => {
  const place = await s3.place();
  const config = { ...place, prefix: `${place.prefix}app/` };
  const store = openConditionalStore(config);
  const key = 'lifeboat-pitr/db1/g/gen1/s/0000000000000001';
  const first = await store.putIfAbsent(key, Buffer.from('first'));
  assert.equal(first.kind, 'written');
  assert.match(first.kind === 'written' ? first.etag : '', /^[^"]+$/, 'the ETag comes without quotes');
  assert.deepEqual(await store.putIfAbsent(key, Buffer.from('second')), { kind: 'exists' });
  const got = await store.get(key);
  assert.equal(got?.body.toString(), 'first');
  assert.equal(got?.etag, first.kind === 'written' ? first.etag : undefined);
  assert.deepEqual(await rawKeys(config), [`${config.prefix}${key}`], 'keys are relative to the configured prefix');
  assert.equal(await store.get('lifeboat-pitr/db1/head'), undefined, 'a missing key is undefined, not an error');
});

localTest('putIfMatch on RGW: the current ETag bare writes; quoted, stale or missing is "changed"', async () => {
  const store = openConditionalStore(await s3.place());
  const key = 'lifeboat-pitr/db1/head';
  const created = await store.putIfAbsent(key, Buffer.from('v1'));
  assert.ok(created.kind === 'written');
  // RGW 16.2 compares the If-Match value with its bare ETag: the quoted form never matches.
  assert.deepEqual(await store.putIfMatch(key, Buffer.from('v2'), created.etag, { etagForm: 'quoted' }), {
    kind: 'changed',
    status: 412,
  });
  store.etagForm = 'bare';
  const replaced = await store.putIfMatch(key, Buffer.from('v2'), created.etag);
  assert.ok(replaced.kind === 'written', JSON.stringify(replaced));
  assert.notEqual(replaced.etag, created.etag);
  assert.deepEqual(await store.putIfMatch(key, Buffer.from('v3'), created.etag), { kind: 'changed', status: 412 });
  assert.equal((await store.get(key))?.body.toString(), 'v2', 'a refused write changes nothing');
  // AWS answers 404 here; RGW 412. Both are "changed": another writer or a rolled-back bucket.
  const missing = await store.putIfMatch('lifeboat-pitr/db2/head', Buffer.from('x'), replaced.etag);
  assert.equal(missing.kind, 'changed');
  assert.equal(await store.get('lifeboat-pitr/db2/head'), undefined);
});

test('list returns every key under a prefix, across pages, with sizes, relative to the configured prefix', async () => {
  const place = await s3.place();
  const config = { ...place, prefix: `${place.prefix}p/` };
  // Pages of 10 keys: 25 keys need three ListObjectsV2 pages (S3's own page is 1,000).
  const store = openConditionalStore(config, { listPageSize: 10 });
  const keys = Array.from({ length: 25 }, (_, i) => `lifeboat-pitr/db1/g/gen1/s/${i.toString(16).padStart(16, '0')}`);
  await Promise.all(keys.map((key, i) => store.putIfAbsent(key, Buffer.alloc(i + 1, 1))));
  await store.putIfAbsent('lifeboat-pitr/db2/head', Buffer.from('other database'));
  await s3.client().send(new PutObjectCommand({ Bucket: config.bucket, Key: `${place.prefix}outside`, Body: 'x' }));
  const listed = await store.list('lifeboat-pitr/db1/');
  assert.deepEqual(
    listed.map(({ key, size }) => ({ key, size })),
    keys.map((key, i) => ({ key, size: i + 1 })),
  );
  // When the server says each was written (its clock, whole seconds): retention judges ages by it.
  for (const o of listed) {
    const ms = o.modified?.getTime() ?? Number.NaN;
    assert.ok(Math.abs(ms - Date.now()) < 60_000, `${o.key} modified ${o.modified?.toISOString()}`);
  }
  const all = await store.list('');
  assert.equal(all.length, 26, 'the whole prefix, and nothing outside it');
  assert.ok(all.every((o) => !o.key.startsWith(config.prefix) && o.key !== 'outside'));
});

test('deleteMany removes every key, in batches of at most 1,000; missing keys are fine', async () => {
  const store = openConditionalStore(await s3.place());
  const existing = ['a/1', 'a/2', 'b/3'];
  await Promise.all(existing.map((key) => store.putIfAbsent(key, Buffer.from(key))));
  await store.putIfAbsent('keep', Buffer.from('kept'));
  // 1,003 keys: the last one that exists is in the second DeleteObjects request.
  const missing = Array.from({ length: 1000 }, (_, i) => `gone/${i}`);
  await store.deleteMany([existing[0]!, existing[1]!, ...missing, existing[2]!]);
  assert.deepEqual(
    (await store.list('')).map(({ key, size }) => ({ key, size })),
    [{ key: 'keep', size: 4 }],
  );
  await store.deleteMany([]);
  await store.delete('keep');
  await store.delete('keep'); // missing: fine
  assert.deepEqual(await store.list(''), []);
});

test('serverTime follows the Date header of the latest answer, on the injected clock', async () => {
  let localMs = Date.now();
  const store = openConditionalStore(await s3.place(), { now: () => localMs });
  assert.equal(store.serverTime(), undefined, 'no answer yet');
  await store.putIfAbsent('x', Buffer.from('x'));
  await store.putIfAbsent('x', Buffer.from('x')); // a 412 carries a Date too
  const at = store.serverTime();
  assert.ok(at !== undefined);
  // Same machine: the server's clock is this one, to the Date header's second.
  assert.ok(Math.abs(at - Date.now()) < 5000, `server ${at} vs local ${Date.now()}`);
  localMs += 60_000;
  assert.equal(store.serverTime(), at + 60_000);
});

test('keys that would not list back as themselves are refused before any request', async () => {
  const store = openConditionalStore(await s3.place());
  for (const key of ['', '/abs', 'a//b', 'a/./b', 'a/../b', 'trailing/', 'nul\0']) {
    await assert.rejects(store.putIfAbsent(key, Buffer.from('x')), isLifeboat('BAD_NAME'), JSON.stringify(key));
  }
  assert.deepEqual(await store.list(''), []);
});

localTest('createOwn and replaceOwn take a write whose answer was lost as written, and only their own', async () => {
  // The proxy resets each connection as the server starts to answer (the one fault here): the
  // write is applied, and the SDK's retry finds its own object (412).
  const { proxy, config } = await withProxy();
  try {
    const store = openConditionalStore(config);
    await probeConditionalWrites(store);
    const first = randomBytes(64);
    proxy.resetOpen(); // the probe's connections were opened before the fault
    proxy.set({ kind: 'cut', afterBytes: 0, times: 1 });
    const made = await createOwn(store, 'k', first);
    assert.equal(proxy.injected, 1);
    assert.equal(made.kind, 'written');
    const second = randomBytes(64);
    proxy.resetOpen();
    proxy.set({ kind: 'cut', afterBytes: 0, times: 1 });
    const replaced = await replaceOwn(store, 'k', second, made.kind === 'written' ? made.etag : '');
    assert.equal(proxy.injected, 1);
    assert.equal(replaced.kind, 'written');
    assert.equal(replaced.kind === 'written' && replaced.etag, (await store.get('k'))?.etag);
    assert.deepEqual((await createOwn(store, 'k', first)).kind, 'exists', 'other bytes are not its own');
    assert.deepEqual((await replaceOwn(store, 'k', first, 'f'.repeat(32))).kind, 'changed');
    assert.deepEqual((await store.get('k'))?.body, second);
  } finally {
    await proxy.close();
  }
});

localTest(
  'a stalled server fails within s3_timeout (S3_TIMEOUT); an aborted signal ends a request (ABORTED)',
  async () => {
    const { proxy, config } = await withProxy();
    try {
      const store = openConditionalStore(config, { timeoutMs: 600, maxAttempts: 1 });
      proxy.set({ kind: 'stall' });
      const t0 = performance.now();
      await assert.rejects(store.putIfAbsent('k', randomBytes(100)), isLifeboat('S3_TIMEOUT'));
      assert.ok(performance.now() - t0 < 5000);
      const stopped = new AbortController();
      const put = store.putIfMatch('k', Buffer.from('x'), 'etag', { signal: stopped.signal });
      stopped.abort();
      await assert.rejects(put, isLifeboat('ABORTED'));
    } finally {
      await proxy.close();
    }
  },
);

test('putStream uploads a source (multipart above a part) that getStream reads back; none is undefined', async () => {
  const config = await s3.place();
  const store = openConditionalStore(config, { partSizeBytes: 5 * 1024 * 1024 });
  for (const [key, size] of [
    ['lifeboat-pitr/db1/g/gen1/b/small', 1000],
    ['lifeboat-pitr/db1/g/gen1/b/large', 11 * 1024 * 1024 + 3],
  ] as const) {
    const source = patternSource(size, size);
    await store.putStream(key, source);
    const body = await store.getStream(key);
    assert.ok(body);
    const hash = createHash('sha256');
    for await (const piece of body) hash.update(piece as Buffer);
    assert.equal(hash.digest('hex'), source.sha, `${key}: the same bytes`);
  }
  assert.equal(await store.getStream('lifeboat-pitr/db1/g/gen1/b/none'), undefined);
  assert.equal(await danglingUploads(config), 0);
});

test('a putStream whose source fails rejects with the source error and leaves no object or upload', async () => {
  const config = await s3.place();
  const store = openConditionalStore(config, { partSizeBytes: 5 * 1024 * 1024 });
  const source = patternSource(12 * 1024 * 1024);
  const broken = new Error('the image file went away');
  source.failAt(6 * 1024 * 1024, broken);
  await assert.rejects(store.putStream('lifeboat-pitr/db1/g/gen1/b/x', source), (err) => err === broken);
  assert.deepEqual(await store.list(''), []);
  assert.equal(await danglingUploads(config), 0);
});
