// S3Store against a real S3 server: radosgw on 127.0.0.1 (test/support/radosgw.ts), or the
// user's own S3 in conformance mode (`npm run test:s3`). Faults a real server cannot make
// on demand go through test/support/fault-proxy.ts; those tests run only locally.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { before, test } from 'node:test';
import { inspect } from 'node:util';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { LifeboatError } from '../../src/errors.js';
import { checkS3Access, createS3Store } from '../../src/storage/s3.js';
import { faults } from '../support/fault-proxy.js';
import { patternSource } from '../support/range-source.js';
import { getTestS3, type TestS3 } from '../support/s3.js';
import { danglingUploads, isLifeboat, names, withProxy } from '../support/s3-checks.js';

let s3: TestS3;
let client: S3Client;
before(async () => {
  s3 = await getTestS3();
  client = s3.client();
});

const MiB = 1024 * 1024;
const local = () => process.env.LIFEBOAT_S3_CONFORMANCE !== '1';
/** Tests that need the local server: the fault proxy, a bucket of their own, *.localhost. */
const localTest = local() ? test : test.skip;

/**
 * A deterministic stream of `size` bytes made on demand in 1 MiB pieces (memory stays
 * small), its sha256, and how far it has been read.
 */
function bytes(size: number, seed = 1): { stream: () => Readable; sha: string; read: () => number } {
  const piece = Buffer.alloc(MiB);
  const block = createHash('sha512').update(String(seed)).digest();
  for (let i = 0; i < MiB; i += block.length) block.copy(piece, i);
  let read = 0;
  const stream = () => {
    read = 0;
    return new Readable({
      highWaterMark: MiB,
      read() {
        const n = Math.min(MiB, size - read);
        read += n;
        this.push(n > 0 ? piece.subarray(0, n) : null);
      },
    });
  };
  const h = createHash('sha256');
  for (let off = 0; off < size; off += MiB) h.update(piece.subarray(0, Math.min(MiB, size - off)));
  return { stream, sha: h.digest('hex'), read: () => read };
}

async function sha(stream: Readable): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

test('a ~40 MB stream goes up in several parts, in bounded memory, and comes back identical', async () => {
  const { proxy, config, direct } = await withProxy();
  try {
    // The proxy counts what reached the server, so read-ahead of the body can be measured.
    const data = bytes(40 * MiB + 123, 7);
    const partSizeBytes = 5 * MiB;
    const queueSize = 2;
    const store = createS3Store(config, { partSizeBytes, queueSize });
    const progress: number[] = [];
    let readAhead = 0;
    const put = await store.put('backup_node_1_100.sqlite', data.stream(), {
      onProgress: (n) => {
        progress.push(n);
        readAhead = Math.max(readAhead, n - proxy.bytesUp);
      },
    });
    assert.equal(put.size, 40 * MiB + 123);
    assert.equal(progress.at(-1), 40 * MiB + 123);
    // lib-storage holds queueSize parts in flight plus the one being filled; allow socket buffers on top.
    assert.ok(readAhead <= (queueSize + 2) * partSizeBytes + 4 * MiB, `read ${readAhead} bytes ahead of the server`);
    assert.equal(await sha(await createS3Store(direct).get('backup_node_1_100.sqlite')), data.sha);
    assert.deepEqual(
      (await createS3Store(direct).list()).map((o) => [o.name, o.size]),
      [['backup_node_1_100.sqlite', 40 * MiB + 123]],
    );
    assert.equal(await danglingUploads(direct), 0);
  } finally {
    await proxy.close();
  }
});

test('the SDK default checksums (CRC32 on PutObject and UploadPart) also work, single and multipart', async () => {
  // Lifeboat sends checksums only when required (see S3Store); this records that the SDK's
  // defaults are accepted too, by radosgw (or by the user's S3 in conformance mode).
  const config = await s3.place();
  const store = createS3Store(config, { checksums: 'when-supported', partSizeBytes: 5 * MiB });
  const small = bytes(100_000, 11);
  const multi = bytes(11 * MiB, 12);
  await store.put('small.sqlite', small.stream());
  await store.put('multi.sqlite', multi.stream());
  assert.equal(await sha(await store.get('small.sqlite')), small.sha);
  assert.equal(await sha(await store.get('multi.sqlite')), multi.sha);
  // Parts streamed from a RangeSource go without them whatever this option says: the SDK
  // would send aws-chunked trailers without Content-Length, which RGW 16 refuses (411).
  const ranged = patternSource(11 * MiB, 13);
  await store.put('ranged.sqlite', ranged);
  assert.equal(await sha(await store.get('ranged.sqlite')), ranged.sha);
  assert.equal(await danglingUploads(config), 0);
});

localTest('virtual-host-style addressing (pathStyle false): <bucket>.localhost reaches the bucket', async () => {
  const place = await s3.place();
  const vhost = s3.virtualHost();
  assert.ok(vhost);
  const store = createS3Store({ ...place, url: vhost.url, pathStyle: false }, { agent: vhost.agent });
  await checkS3Access(store);
  await store.put('backup_node_1_1.sqlite', Readable.from([Buffer.from('virtual host')]));
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
  const store = createS3Store(config);
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
    (await buffer(await createS3Store(base).get('backup_node_1_1700000000.sqlite'))).toString(),
    'outside the prefix',
  );
  // The root store (Hiqlite's layout) lists only root-level names, not the prefixed ones.
  assert.deepEqual(await names(base), ['backup_node_1_1700000000.sqlite']);
});

test('NOT_FOUND names the bucket and the object key', async () => {
  const base = await s3.place();
  const store = createS3Store({ ...base, prefix: `${base.prefix}p/` });
  await assert.rejects(store.get('backup_node_9_9.sqlite'), (err: unknown) => {
    isLifeboat('NOT_FOUND')(err);
    assert.ok((err as Error).message.includes(`"${base.prefix}p/backup_node_9_9.sqlite"`), (err as Error).message);
    assert.ok((err as Error).message.includes(base.bucket));
    return true;
  });
});

test('description names bucket, endpoint and prefix, never the credentials', async () => {
  const config = await s3.place();
  const store = createS3Store({ ...config, prefix: 'x/' });
  assert.equal(store.description, `s3 bucket "${config.bucket}" at ${config.url} (prefix "x/")`);
  assert.equal(createS3Store(config).description.includes('prefix'), config.prefix !== '');
  assert.ok(!inspect(store.description).includes(config.secret) && !store.description.includes(config.key));
});

test('start-up check: a wrong secret or an unknown key is S3_AUTH, naming HQL_S3_* and never the credentials', async () => {
  const config = await s3.place();
  await checkS3Access(createS3Store(config));
  await checkS3Access(config); // a config works as well as a store
  const wrongSecret = 'wrong-secret-value-xyz0123456789abcdef';
  const leaks = (err: unknown) => {
    // Message, hint, cause and every property, as a logger or a crash report would show them.
    const all = `${inspect(err, { depth: 10, showHidden: true })}${JSON.stringify(err)}${(err as Error).stack}`;
    return [wrongSecret, config.secret, config.key].filter((s) => all.includes(s));
  };
  await assert.rejects(
    checkS3Access(createS3Store({ ...config, secret: wrongSecret }, { maxAttempts: 1 })),
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
    createS3Store({ ...config, secret: wrongSecret }, { maxAttempts: 1 }).put(
      'x.sqlite',
      Readable.from([Buffer.from('x')]),
    ),
    (err: unknown) => {
      isLifeboat('S3_AUTH')(err);
      assert.deepEqual(leaks(err), []);
      return true;
    },
  );
  await assert.rejects(
    checkS3Access({ ...config, key: 'LBNOSUCHKEY0000000000', secret: wrongSecret }, { maxAttempts: 1 }),
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
  await assert.rejects(checkS3Access(createS3Store({ ...config, bucket }, { maxAttempts: 1 })), (err: unknown) => {
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
  await assert.rejects(checkS3Access(createS3Store({ ...config, url }, { maxAttempts: 1 })), (err: unknown) => {
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
    const store = createS3Store(config, { maxAttempts: 1 });
    // The SDK signs with Date.now() + systemClockOffset: this store's clock is one hour ahead.
    store.client.config.systemClockOffset = 3_600_000;
    await assert.rejects(checkS3Access(store), (err: unknown) => {
      isLifeboat('S3_CLOCK_SKEW')(err);
      assert.ok((err as Error).message.includes(config.url));
      assert.match((err as LifeboatError).hint ?? '', /clock|NTP/);
      return true;
    });
    // The refusal carried the server's Date; the SDK corrected its offset from it, so the next
    // request is signed right. (With a truly skewed machine clock the SDK does this and
    // retries within the first call when maxAttempts > 1, so operators rarely see S3_CLOCK_SKEW.)
    assert.ok(Math.abs(store.client.config.systemClockOffset) < 60_000);
    await checkS3Access(store);
  },
);

localTest('connections reset in the middle of part uploads are retried and the object is complete', async () => {
  const { proxy, config, direct } = await withProxy();
  try {
    proxy.set({ kind: 'reset', afterBytes: 2 * MiB, times: 3 });
    const store = createS3Store(config, { partSizeBytes: 5 * MiB, queueSize: 2 });
    const data = bytes(12 * MiB, 2);
    await store.put('backup_node_1_200.sqlite', data.stream());
    assert.equal(proxy.injected, 3, 'the faults really happened');
    assert.equal(await sha(await createS3Store(direct).get('backup_node_1_200.sqlite')), data.sha);
    assert.equal(await danglingUploads(direct), 0);
  } finally {
    await proxy.close();
  }
});

localTest('HTTP 500 and 503 SlowDown answers are retried with backoff until the request succeeds', async () => {
  const { proxy, config, direct } = await withProxy();
  try {
    const store = createS3Store(config, { partSizeBytes: 5 * MiB });
    proxy.set(faults.http500(3));
    await store.put('backup_node_1_300.sqlite', Readable.from([Buffer.from('hello')]));
    assert.equal(proxy.injected, 3);
    proxy.set(faults.slowDown(2));
    const data = bytes(11 * MiB, 3);
    await store.put('backup_node_1_301.sqlite', data.stream()); // CreateMultipartUpload meets the 503s
    assert.equal(proxy.injected, 2);
    proxy.set(faults.http500(2));
    assert.deepEqual(await names(config), ['backup_node_1_300.sqlite', 'backup_node_1_301.sqlite']);
    assert.equal(proxy.injected, 2);
    assert.equal((await buffer(await createS3Store(direct).get('backup_node_1_300.sqlite'))).toString(), 'hello');
    assert.equal(await sha(await createS3Store(direct).get('backup_node_1_301.sqlite')), data.sha);
  } finally {
    await proxy.close();
  }
});

localTest(
  'a part upload that keeps failing: clear error, the body stops being read, no object, no multipart upload left',
  async () => {
    const { proxy, config, direct } = await withProxy();
    try {
      // Every connection that carries part data is reset; small requests (create, abort) pass.
      proxy.set({ kind: 'reset', afterBytes: 256 * 1024, times: Infinity });
      const partSizeBytes = 5 * MiB;
      const store = createS3Store(config, { partSizeBytes, queueSize: 2, maxAttempts: 3 });
      const data = bytes(60 * MiB, 4);
      const t0 = performance.now();
      await assert.rejects(store.put('backup_node_1_400.sqlite', data.stream()), (err: unknown) => {
        isLifeboat('S3_UNREACHABLE')(err);
        assert.match(
          (err as Error).message,
          /upload of backup_node_1_400\.sqlite failed: the connection to http:\/\/127\.0\.0\.1:\d+ was lost/,
        );
        return true;
      });
      // Fail fast: once a part failed for good the rest of the body is not uploaded in vain.
      assert.ok(data.read() <= 5 * partSizeBytes, `read ${data.read()} of ${60 * MiB} bytes`);
      assert.ok(performance.now() - t0 < 20_000);
      proxy.set({ kind: 'none' });
      assert.deepEqual(await names(direct), []);
      assert.equal(await danglingUploads(direct), 0);
    } finally {
      await proxy.close();
    }
  },
);

test('a body that fails after several parts: its own error, the multipart upload aborted, nothing stored', async () => {
  const config = await s3.place();
  const store = createS3Store(config, { partSizeBytes: 5 * MiB, queueSize: 2 });
  const boom = new Error('snapshot read failed');
  const data = bytes(100 * MiB, 5);
  const body = data.stream();
  body.on('data', () => {
    if (data.read() >= 17 * MiB) body.destroy(boom);
  });
  await assert.rejects(store.put('backup_node_1_500.sqlite', body), (err: unknown) => err === boom);
  assert.deepEqual(await names(config), []);
  assert.equal(await danglingUploads(config), 0);
});

test('an aborted multipart upload rejects with ABORTED and leaves no parts behind', async () => {
  const config = await s3.place();
  const store = createS3Store(config, { partSizeBytes: 5 * MiB, queueSize: 2 });
  const controller = new AbortController();
  const data = bytes(100 * MiB, 6);
  await assert.rejects(
    store.put('backup_node_1_600.sqlite', data.stream(), {
      signal: controller.signal,
      onProgress: (n) => {
        if (n >= 16 * MiB) controller.abort();
      },
    }),
    isLifeboat('ABORTED'),
  );
  assert.ok(data.read() < 40 * MiB, `read ${data.read()} bytes`);
  assert.deepEqual(await names(config), []);
  assert.equal(await danglingUploads(config), 0);
});

localTest('a server that stops answering fails with S3_TIMEOUT after the idle timeout, for list and put', async () => {
  const { proxy, config, direct } = await withProxy();
  try {
    proxy.set({ kind: 'stall' });
    const store = createS3Store(config, { idleTimeoutMs: 1000, maxAttempts: 2, partSizeBytes: 5 * MiB });
    let t0 = performance.now();
    await assert.rejects(store.list(), isLifeboat('S3_TIMEOUT'));
    assert.ok(performance.now() - t0 < 8000, `list gave up after ${(performance.now() - t0).toFixed(0)} ms`);
    t0 = performance.now();
    await assert.rejects(store.put('backup_node_1_700.sqlite', bytes(11 * MiB, 7).stream()), isLifeboat('S3_TIMEOUT'));
    assert.ok(performance.now() - t0 < 8000, `put gave up after ${(performance.now() - t0).toFixed(0)} ms`);
    proxy.set({ kind: 'none' });
    assert.deepEqual(await names(direct), []);
  } finally {
    await proxy.close();
  }
});

localTest('a server slower than the request timeout fails with S3_TIMEOUT within a bounded time', async () => {
  const { proxy, config } = await withProxy();
  try {
    // Bytes keep trickling (so the idle timeout never fires), far too slowly to finish.
    proxy.set({ kind: 'throttle', bytesPerSecond: 40 });
    const store = createS3Store(config, { requestTimeoutMs: 1500, maxAttempts: 2 });
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
  assert.throws(() => createS3Store(config, { partSizeBytes: MiB }), isLifeboat('S3_OPTIONS'));
  assert.throws(() => createS3Store(config, { queueSize: 0 }), isLifeboat('S3_OPTIONS'));
});
