// S3Store against a real S3 server: radosgw on 127.0.0.1 (test/support/radosgw.ts), or the
// user's own S3 in conformance mode (`npm run test:s3`). Faults a real server cannot make
// on demand go through test/support/fault-proxy.ts; those tests run only locally.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { before, test } from 'node:test';
import { inspect } from 'node:util';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { LifeboatError } from '../../src/errors.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { storeObject } from '../../src/storage/store.js';
import { bufferSource, patternSource } from '../support/range-source.js';
import { getTestS3, localTest, type TestS3 } from '../support/s3.js';
import { danglingUploads, isLifeboat, names, withProxy } from '../support/s3-checks.js';

let s3: TestS3;
let client: S3Client;
before(async () => {
  s3 = await getTestS3();
  client = s3.client();
});

const MiB = 1024 * 1024;

async function sha(stream: Readable): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

const sdkDefaultChecksums =
  'the SDK default checksums (CRC32 on a PutObject, validated on GET) also work, beside streamed parts';
test(sdkDefaultChecksums, async () => {
  // Lifeboat sends checksums only when required (see S3Store); this records that the SDK's
  // defaults are accepted too, by radosgw (or by the user's S3 in conformance mode).
  const config = await s3.place();
  const store = new S3Store(config, { checksums: 'when-supported', partSizeBytes: 5 * MiB });
  const small = Buffer.from('a small object with a CRC32 header');
  await store.create('small', small);
  assert.ok((await buffer(await store.get('small'))).equals(small));
  // Parts streamed from a RangeSource go without them whatever this option says: the SDK
  // would send aws-chunked trailers without Content-Length, which RGW 16 refuses (411).
  const ranged = patternSource(11 * MiB, 13);
  await storeObject(store, 'ranged.sqlite', ranged);
  assert.equal(await sha(await store.get('ranged.sqlite')), ranged.sha);
  assert.equal(await danglingUploads(config), 0);
});

localTest('virtual-host-style addressing (pathStyle false): <bucket>.localhost reaches the bucket', async () => {
  const place = await s3.place();
  const vhost = s3.virtualHost();
  assert.ok(vhost);
  const store = new S3Store({ ...place, url: vhost.url, pathStyle: false }, { agent: vhost.agent });
  await store.checkAccess();
  await storeObject(store, 'backup_node_1_1.sqlite', bufferSource('virtual host'));
  assert.deepEqual(await names(place), ['backup_node_1_1.sqlite'], 'the object landed in the bucket');
  assert.equal((await buffer(await store.get('backup_node_1_1.sqlite'))).toString(), 'virtual host');
  assert.ok(
    vhost.lookedUp.includes(`${place.bucket}.localhost`),
    `requests went to the bucket's host name (looked up: ${vhost.lookedUp.join(', ')})`,
  );
  await store.delete('backup_node_1_1.sqlite');
  assert.deepEqual(await names(place), []);
  vhost.agent.destroy();
});

test('list pages through more than 1000 objects and sees only its own prefix; delete stays inside it too', async () => {
  const base = await s3.place();
  const config = { ...base, prefix: `${base.prefix}node-a/` };
  const all = Array.from({ length: 1010 }, (_, i) => `backup_node_1_${1_700_000_000 + i}.sqlite`);
  const queue = [...all];
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      for (let n = queue.shift(); n; n = queue.shift())
        await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: `${config.prefix}${n}`, Body: 'x' }));
    }),
  );
  const outside = `${base.prefix}backup_node_1_1700000000.sqlite`; // same name, one level up
  await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: outside, Body: 'outside the prefix' }));
  await client.send(
    new PutObjectCommand({
      Bucket: config.bucket,
      Key: `${base.prefix}node-ab/backup_node_1_3.sqlite`,
      Body: 'a sibling prefix',
    }),
  );
  await client.send(
    new PutObjectCommand({
      Bucket: config.bucket,
      Key: `${config.prefix}deeper/backup_node_1_2.sqlite`,
      Body: 'below the prefix',
    }),
  );
  const store = new S3Store(config);
  const listed = await store.list();
  assert.equal(listed.length, 1010);
  assert.deepEqual(
    listed.map((o) => o.name),
    [...all].sort(),
  );
  assert.ok(listed.every((o) => o.size === 1));

  await store.delete('backup_node_1_1700000000.sqlite');
  assert.equal((await store.list()).length, 1009);
  assert.equal(
    (await buffer(await new S3Store(base).get('backup_node_1_1700000000.sqlite'))).toString(),
    'outside the prefix',
  );
  // The root store (Hiqlite's layout) lists only root-level names, not the prefixed ones.
  assert.deepEqual(await names(base), ['backup_node_1_1700000000.sqlite']);
});

test('NOT_FOUND names the bucket and the object key', async () => {
  const base = await s3.place();
  const store = new S3Store({ ...base, prefix: `${base.prefix}p/` });
  await assert.rejects(store.get('backup_node_9_9.sqlite'), (err: unknown) => {
    isLifeboat('NOT_FOUND')(err);
    assert.ok((err as Error).message.includes(`"${base.prefix}p/backup_node_9_9.sqlite"`), (err as Error).message);
    assert.ok((err as Error).message.includes(base.bucket));
    return true;
  });
});

test('description names bucket, endpoint and prefix, never the credentials', async () => {
  const config = await s3.place();
  const store = new S3Store({ ...config, prefix: 'x/' });
  assert.equal(store.description, `s3 bucket "${config.bucket}" at ${config.url} (prefix "x/")`);
  assert.equal(new S3Store(config).description.includes('prefix'), config.prefix !== '');
  assert.ok(!inspect(store.description).includes(config.secret) && !store.description.includes(config.key));
});

const startUpCheck =
  'start-up check: a wrong secret or an unknown key is S3_AUTH, naming HQL_S3_* and never the credentials';
test(startUpCheck, async () => {
  const config = await s3.place();
  await new S3Store(config).checkAccess();
  const wrongSecret = 'wrong-secret-value-xyz0123456789abcdef';
  const leaks = (err: unknown) => {
    // Message, hint, cause and every property, as a logger or a crash report would show them.
    const all = `${inspect(err, { depth: 10, showHidden: true })}${JSON.stringify(err)}${(err as Error).stack}`;
    return [wrongSecret, config.secret, config.key].filter((s) => all.includes(s));
  };
  await assert.rejects(
    new S3Store({ ...config, secret: wrongSecret }, { maxAttempts: 1 }).checkAccess(),
    (err: unknown) => {
      isLifeboat('S3_AUTH')(err);
      const e = err as LifeboatError;
      assert.match(
        e.message,
        /credentials were rejected \((SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied|HTTP 403)\)/,
      );
      assert.ok(e.message.includes(config.url) && e.message.includes(config.bucket));
      assert.match(e.hint ?? '', /HQL_S3_SECRET/);
      assert.deepEqual(leaks(err), []);
      return true;
    },
  );
  // Also through a data operation, not only the check.
  await assert.rejects(
    storeObject(new S3Store({ ...config, secret: wrongSecret }, { maxAttempts: 1 }), 'x.sqlite', bufferSource('x')),
    (err: unknown) => {
      isLifeboat('S3_AUTH')(err);
      assert.deepEqual(leaks(err), []);
      return true;
    },
  );
  await assert.rejects(
    new S3Store({ ...config, key: 'LBNOSUCHKEY0000000000', secret: wrongSecret }, { maxAttempts: 1 }).checkAccess(),
    (err: unknown) => {
      isLifeboat('S3_AUTH')(err);
      assert.match((err as Error).message, /InvalidAccessKeyId|AccessDenied|HTTP 403/);
      assert.match((err as LifeboatError).hint ?? '', /HQL_S3_KEY/);
      assert.ok(!inspect(err, { depth: 10 }).includes('LBNOSUCHKEY0000000000'));
      return true;
    },
  );
});

test('start-up check: a missing bucket is S3_NO_BUCKET naming it and HQL_S3_BUCKET', async () => {
  const config = await s3.place();
  const bucket = `${config.bucket}-missing`;
  await assert.rejects(new S3Store({ ...config, bucket }, { maxAttempts: 1 }).checkAccess(), (err: unknown) => {
    isLifeboat('S3_NO_BUCKET')(err);
    assert.ok((err as Error).message.includes(`"${bucket}"`));
    assert.match((err as LifeboatError).hint ?? '', /HQL_S3_BUCKET/);
    return true;
  });
});

test('start-up check: an endpoint where nothing listens is S3_UNREACHABLE naming it and HQL_S3_URL', async () => {
  const config = await s3.place();
  // A port that was free a moment ago: nothing listens on it now.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const url = `http://127.0.0.1:${port}`;
  await assert.rejects(new S3Store({ ...config, url }, { maxAttempts: 1 }).checkAccess(), (err: unknown) => {
    isLifeboat('S3_UNREACHABLE')(err);
    assert.ok((err as Error).message.includes(`cannot reach ${url}`), (err as Error).message);
    assert.match((err as LifeboatError).hint ?? '', /HQL_S3_URL/);
    return true;
  });
});

localTest(
  'start-up check: a clock 1 h off is S3_CLOCK_SKEW (the real server refuses it); the SDK then adopts the server clock',
  async () => {
    const config = await s3.place();
    // The SDK signs with Date.now() + its clock offset: this store's clock is one hour ahead.
    const store = new S3Store(config, { maxAttempts: 1, clockOffsetMs: 3_600_000 });
    await assert.rejects(store.checkAccess(), (err: unknown) => {
      isLifeboat('S3_CLOCK_SKEW')(err);
      assert.ok((err as Error).message.includes(config.url));
      assert.match((err as LifeboatError).hint ?? '', /clock|NTP/);
      return true;
    });
    // The refusal carried the server's Date; the SDK corrected its offset from it, so the next
    // request is signed right. (With a truly skewed machine clock the SDK does this and
    // retries within the first call when maxAttempts > 1, so operators rarely see S3_CLOCK_SKEW.)
    assert.ok(Math.abs(store.clockOffsetMs()) < 60_000);
    await store.checkAccess();
  },
);

localTest(
  'a server that stops answering fails with S3_TIMEOUT after the idle timeout, for list and a staged upload',
  async () => {
    const { proxy, config, direct } = await withProxy();
    try {
      proxy.set({ kind: 'stall' });
      const store = new S3Store(config, { idleTimeoutMs: 1000, maxAttempts: 2, partSizeBytes: 5 * MiB });
      let t0 = performance.now();
      await assert.rejects(store.list(), isLifeboat('S3_TIMEOUT'));
      assert.ok(performance.now() - t0 < 8000, `list gave up after ${(performance.now() - t0).toFixed(0)} ms`);
      t0 = performance.now();
      await assert.rejects(
        storeObject(store, 'backup_node_1_700.sqlite', patternSource(11 * MiB, 7)),
        isLifeboat('S3_TIMEOUT'),
      );
      assert.ok(performance.now() - t0 < 8000, `put gave up after ${(performance.now() - t0).toFixed(0)} ms`);
      proxy.set({ kind: 'none' });
      assert.deepEqual(await names(direct), []);
    } finally {
      await proxy.close();
    }
  },
);

localTest('a server slower than the request timeout fails with S3_TIMEOUT within a bounded time', async () => {
  const { proxy, config } = await withProxy();
  try {
    // Bytes keep trickling (so the idle timeout never fires), far too slowly to finish.
    proxy.set({ kind: 'throttle', bytesPerSecond: 40 });
    const store = new S3Store(config, { requestTimeoutMs: 1500, maxAttempts: 2 });
    const t0 = performance.now();
    await assert.rejects(store.list(), (err: unknown) => {
      isLifeboat('S3_TIMEOUT')(err);
      assert.match((err as Error).message, /1500 ms/);
      return true;
    });
    const took = performance.now() - t0;
    assert.ok(took >= 2 * 1500 && took < 8000, `gave up after ${took.toFixed(0)} ms`);
  } finally {
    await proxy.close();
  }
});

test('invalid part and queue sizes are refused up front', () => {
  const config = {
    url: 'http://127.0.0.1:1',
    bucket: 'b',
    region: 'us-east-1',
    pathStyle: true,
    key: 'k',
    secret: 's',
    prefix: '',
  };
  assert.throws(() => new S3Store(config, { partSizeBytes: MiB }), isLifeboat('S3_OPTIONS'));
  assert.throws(() => new S3Store(config, { queueSize: 0 }), isLifeboat('S3_OPTIONS'));
});
