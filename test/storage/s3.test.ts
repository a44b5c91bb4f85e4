import assert from 'node:assert/strict';
import { ListMultipartUploadsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, before, test } from 'node:test';
import type { S3Config } from '../../src/config/types.js';
import { LifeboatError } from '../../src/errors.js';
import { checkS3Access, createS3Store } from '../../src/storage/s3.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { getTestS3, type TestS3 } from '../support/s3.js';

let s3: TestS3;
let client: S3Client;
before(async () => {
  s3 = await getTestS3();
  client = s3.client();
});

const MiB = 1024 * 1024;

/** A deterministic stream of `size` bytes in 1 MiB pieces, and its sha256. */
function bytes(size: number, seed = 1): { stream: () => Readable; sha: string } {
  const block = createHash('sha512').update(String(seed)).digest();
  const piece = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += block.length) block.copy(piece, i);
  const make = () =>
    Readable.from(
      (function* () {
        for (let off = 0; off < size; off += MiB) yield piece.subarray(0, Math.min(MiB, size - off));
      })(),
    );
  const h = createHash('sha256');
  for (let off = 0; off < size; off += MiB) h.update(piece.subarray(0, Math.min(MiB, size - off)));
  return { stream: make, sha: h.digest('hex') };
}

async function sha(stream: Readable): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function danglingUploads(config: S3Config): Promise<number> {
  const res = await client.send(new ListMultipartUploadsCommand({ Bucket: config.bucket, Prefix: config.prefix || undefined }));
  return res.Uploads?.length ?? 0;
}

test('put, get, list and delete by name; empty and multipart objects round-trip', async () => {
  const config = await s3.place();
  const store = createS3Store(config, { partSizeBytes: 5 * MiB, queueSize: 3 });
  await checkS3Access(store);
  assert.deepEqual(await store.list(), []);
  await store.put('empty.sqlite', Readable.from([]));
  assert.equal((await buffer(await store.get('empty.sqlite'))).length, 0);
  const big = bytes(23 * MiB + 123);
  const progress: number[] = [];
  await store.put('backup_node_1_100.sqlite', big.stream(), { onProgress: (n) => progress.push(n) });
  assert.equal(progress.at(-1), 23 * MiB + 123);
  assert.equal(await sha(await store.get('backup_node_1_100.sqlite')), big.sha);
  const listed = await store.list();
  assert.deepEqual(listed.map((o) => [o.name, o.size]), [['backup_node_1_100.sqlite', 23 * MiB + 123], ['empty.sqlite', 0]]);
  await store.delete('empty.sqlite');
  await store.delete('empty.sqlite');
  assert.deepEqual((await store.list()).map((o) => o.name), ['backup_node_1_100.sqlite']);
  await assert.rejects(store.get('nope.sqlite'), (err: unknown) => err instanceof LifeboatError && err.code === 'NOT_FOUND' && err.message.includes('nope.sqlite'));
  assert.equal(await danglingUploads(config), 0);
});

test('listing paginates past 1000 objects and stays inside its prefix', async () => {
  const base = await s3.place();
  const config = { ...base, prefix: `${base.prefix}node-a/` };
  const names = Array.from({ length: 1010 }, (_, i) => `backup_node_1_${1_700_000_000 + i}.sqlite`);
  const queue = [...names];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let n = queue.shift(); n; n = queue.shift()) await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: `${config.prefix}${n}`, Body: 'x' }));
    }),
  );
  await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: `${base.prefix}backup_node_1_1.sqlite`, Body: 'outside the prefix' }));
  await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: `${config.prefix}deeper/backup_node_1_2.sqlite`, Body: 'below the prefix' }));
  const store = createS3Store(config);
  const listed = await store.list();
  assert.equal(listed.length, 1010);
  assert.deepEqual(listed.map((o) => o.name), [...names].sort());
});

test('start-up check names the problem: bad secret, missing bucket, unreachable endpoint — never the secret', async () => {
  const config = await s3.place();
  const wrong = { ...config, secret: 'wrong-secret-value-xyz' };
  await assert.rejects(checkS3Access(createS3Store(wrong, { maxAttempts: 1 })), (err: unknown) => {
    assert.ok(err instanceof LifeboatError);
    assert.equal(err.code, 'S3_AUTH');
    assert.match(err.message, /credentials were rejected \((SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied|HTTP 403)/);
    assert.match(err.hint ?? '', /HQL_S3_SECRET/);
    assert.ok(!`${err.message}${err.hint}`.includes('wrong-secret-value-xyz'));
    return true;
  });
  if (!s3.conformance) {
    await assert.rejects(checkS3Access(createS3Store({ ...config, bucket: 'no-such-bucket-lifeboat' }, { maxAttempts: 1 })), (err: unknown) => err instanceof LifeboatError && err.code === 'S3_NO_BUCKET' && /no-such-bucket-lifeboat/.test(err.message));
  }
  const proxy = await FaultProxy.start('http://127.0.0.1:1');
  const deadUrl = proxy.url;
  await proxy.close(); // nothing listens there any more
  await assert.rejects(checkS3Access(createS3Store({ ...config, url: deadUrl }, { maxAttempts: 1 })), (err: unknown) => {
    assert.ok(err instanceof LifeboatError);
    assert.equal(err.code, 'S3_UNREACHABLE');
    assert.match(err.message, /cannot reach http:\/\/127\.0\.0\.1/);
    return true;
  });
});

// Fault tests go through the proxy, which only works against the local server.
const faultTest = process.env.LIFEBOAT_S3_CONFORMANCE === '1' ? test.skip : test;

async function throughProxy(): Promise<{ proxy: FaultProxy; config: S3Config }> {
  const config = await s3.place();
  const proxy = await FaultProxy.start(config.url);
  after(() => proxy.close());
  return { proxy, config: { ...config, url: proxy.url } };
}

faultTest('a connection reset mid-upload is retried and the object is complete', async () => {
  const { proxy, config } = await throughProxy();
  proxy.fault = { kind: 'reset', afterBytes: 2 * MiB, times: 2 };
  const store = createS3Store(config, { partSizeBytes: 5 * MiB, queueSize: 2 });
  const data = bytes(12 * MiB, 2);
  await store.put('backup_node_1_200.sqlite', data.stream());
  assert.equal(proxy.injected, 2, 'the faults really happened');
  assert.equal(await sha(await store.get('backup_node_1_200.sqlite')), data.sha);
  assert.equal(await danglingUploads(config), 0);
});

faultTest('HTTP 500 answers are retried with backoff until the request succeeds', async () => {
  const { proxy, config } = await throughProxy();
  proxy.fault = { kind: 'http500', times: 3 };
  const store = createS3Store(config);
  await store.put('backup_node_1_300.sqlite', Readable.from([Buffer.from('hello')]));
  assert.equal(proxy.injected, 3);
  assert.equal((await buffer(await store.get('backup_node_1_300.sqlite'))).toString(), 'hello');
});

faultTest('an upload that keeps failing fails cleanly: clear error, no object, no dangling multipart upload', async () => {
  const { proxy, config } = await throughProxy();
  // Every connection that carries part data is reset; small requests (create/abort) pass.
  proxy.fault = { kind: 'reset', afterBytes: 256 * 1024, times: Infinity };
  const store = createS3Store(config, { partSizeBytes: 5 * MiB, queueSize: 2, maxAttempts: 2 });
  await assert.rejects(store.put('backup_node_1_400.sqlite', bytes(11 * MiB, 3).stream()), (err: unknown) => {
    assert.ok(err instanceof LifeboatError, String(err));
    assert.match(err.code, /S3_UNREACHABLE|S3_ERROR/);
    assert.match(err.message, /upload of backup_node_1_400\.sqlite/);
    return true;
  });
  proxy.fault = { kind: 'none' };
  assert.deepEqual((await store.list()).map((o) => o.name), []);
  assert.equal(await danglingUploads(config), 0);
});

faultTest('a server that stops answering fails within the request timeout', async () => {
  const { proxy, config } = await throughProxy();
  proxy.fault = { kind: 'stall' };
  const store = createS3Store(config, { requestTimeoutMs: 1500, maxAttempts: 1 });
  const t0 = performance.now();
  await assert.rejects(store.list(), (err: unknown) => err instanceof LifeboatError && /S3_UNREACHABLE|S3_ERROR/.test(err.code));
  const took = performance.now() - t0;
  assert.ok(took < 10_000, `gave up after ${took.toFixed(0)} ms`);
});
