// S3Store's staged uploads (parts streamed from a RangeSource, retried by opening their range
// again; src/storage/s3/upload.ts) against the real radosgw, with faults from
// test/support/fault-proxy.ts where a real server cannot make them on demand.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, test } from 'node:test';
import type { S3Config } from '../../src/config/types.js';
import { LifeboatError } from '../../src/errors.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { storeObject } from '../../src/storage/store.js';
import { faults } from '../support/fault-proxy.js';
import { patternSource } from '../support/range-source.js';
import { getTestS3, localTest, type TestS3 } from '../support/s3.js';
import { danglingUploads, isLifeboat, names, withProxy } from '../support/s3-checks.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const MiB = 1024 * 1024;

async function shaOf(config: S3Config, name: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of await new S3Store(config).get(name)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const partsGoUp =
  'parts go up in parallel straight from the source: each range is opened once, the object is the source';
test(partsGoUp, async () => {
  const config = await s3.place();
  const store = new S3Store(config, { partSizeBytes: 5 * MiB, queueSize: 3 });
  const source = patternSource(23 * MiB + 11);
  await storeObject(store, 'backup_node_1_100.sqlite', source);
  assert.equal(await shaOf(config, 'backup_node_1_100.sqlite'), source.sha);
  const ranges = [...source.opened].sort((a, b) => a[0] - b[0]);
  assert.deepEqual(
    ranges,
    [0, 1, 2, 3, 4].map((i) => [i * 5 * MiB, Math.min(source.size, (i + 1) * 5 * MiB)]),
  );
  assert.equal(await danglingUploads(config), 0);
});

test('a source too large for 10 000 parts of the configured size gets larger parts', async () => {
  // Nothing is uploaded: the source fails at its first byte, after the part size was chosen.
  const config = await s3.place();
  const store = new S3Store(config, { partSizeBytes: 5 * MiB, queueSize: 1, maxAttempts: 1 });
  const source = patternSource(60_000 * MiB);
  const stop = new Error('stop here');
  source.failAt(0, stop);
  await assert.rejects(storeObject(store, 'backup_node_1_150.sqlite', source), (err: unknown) => err === stop);
  const [first] = source.opened;
  assert.equal(first?.[1], 6 * MiB, 'ceil(60000 MiB / 10000) = 6 MiB parts');
  assert.equal(await danglingUploads(config), 0);
});

localTest(
  'a connection reset in the middle of a part: the part is sent again from its range and the object is complete',
  async () => {
    const { proxy, config, direct } = await withProxy();
    try {
      proxy.set({ kind: 'reset', afterBytes: 2 * MiB, times: 3 });
      const store = new S3Store(config, { partSizeBytes: 5 * MiB, queueSize: 2 });
      const source = patternSource(17 * MiB + 3, 2);
      await storeObject(store, 'backup_node_1_200.sqlite', source);
      assert.equal(proxy.injected, 3, 'the faults really happened');
      // A reset can also hit a connection resting in the pool after its part succeeded, so
      // not every injected fault costs a resend; each one that does opens its range again.
      assert.ok(source.opened.length > 4, `parts were sent again from their ranges: ${source.opened.length} opens`);
      assert.equal(await shaOf(direct, 'backup_node_1_200.sqlite'), source.sha);
      assert.equal(await danglingUploads(direct), 0);
    } finally {
      await proxy.close();
    }
  },
);

const COMPLETE = /^POST \S*\?uploadId=/;

localTest(
  'a CompleteMultipartUpload applied but answered to nobody: the upload succeeds, the object is whole',
  async () => {
    // The proxy resets the connection as the server starts to answer the Complete; the SDK retries
    // it. RGW answers the retry with 200; other servers (MinIO) with 404 NoSuchUpload, as the proxy
    // does in the second case (the upload was completed, so they no longer know it).
    for (const afterwards of [undefined, 'NoSuchUpload'] as const) {
      const { proxy, config, direct } = await withProxy();
      try {
        proxy.set({ kind: 'cutAnswerTo', request: COMPLETE, times: 1, ...(afterwards ? { afterwards } : {}) });
        const store = new S3Store(config, { partSizeBytes: 5 * MiB, queueSize: 2 });
        const source = patternSource(11 * MiB + 5, 6);
        await storeObject(store, 'backup_node_1_250.sqlite', source);
        assert.equal(proxy.injected, afterwards ? 2 : 1, 'the answer to the Complete was cut (and the retry refused)');
        assert.equal(await shaOf(direct, 'backup_node_1_250.sqlite'), source.sha);
        assert.equal(await danglingUploads(direct), 0);
      } finally {
        await proxy.close();
      }
    }
  },
);

localTest(
  'a CompleteMultipartUpload answered NoSuchUpload that stored nothing fails: no object is taken for it',
  async () => {
    const { proxy, config, direct } = await withProxy();
    try {
      proxy.set({ kind: 'cutAnswerTo', request: COMPLETE, times: 0, afterwards: 'NoSuchUpload' });
      const store = new S3Store(config, { partSizeBytes: 5 * MiB, queueSize: 2, maxAttempts: 2 });
      await assert.rejects(
        storeObject(store, 'backup_node_1_260.sqlite', patternSource(11 * MiB, 7)),
        isLifeboat(/^S3_/),
      );
      assert.ok(proxy.injected >= 1);
      assert.deepEqual(await names(direct), []);
      assert.equal(await danglingUploads(direct), 0);
    } finally {
      await proxy.close();
    }
  },
);

localTest('HTTP 500 and 503 SlowDown on parts and on the small object path are retried', async () => {
  const { proxy, config, direct } = await withProxy();
  try {
    const store = new S3Store(config, { partSizeBytes: 5 * MiB });
    proxy.set(faults.http500(2));
    const small = patternSource(1000, 3);
    await storeObject(store, 'backup_node_1_300.sqlite', small);
    assert.equal(proxy.injected, 2);
    proxy.set(faults.slowDown(2));
    const large = patternSource(11 * MiB, 4);
    await storeObject(store, 'backup_node_1_301.sqlite', large);
    assert.equal(proxy.injected, 2);
    proxy.set({ kind: 'none' });
    assert.equal(await shaOf(direct, 'backup_node_1_300.sqlite'), small.sha);
    assert.equal(await shaOf(direct, 'backup_node_1_301.sqlite'), large.sha);
  } finally {
    await proxy.close();
  }
});

localTest(
  'a part that keeps failing: S3_UNREACHABLE after maxAttempts, the other parts stop, nothing stored, no upload left',
  async () => {
    const { proxy, config, direct } = await withProxy();
    try {
      proxy.set({ kind: 'reset', afterBytes: 256 * 1024, times: Infinity });
      const store = new S3Store(config, { partSizeBytes: 5 * MiB, queueSize: 2, maxAttempts: 3 });
      const source = patternSource(60 * MiB, 5);
      await assert.rejects(storeObject(store, 'backup_node_1_400.sqlite', source), (err: unknown) => {
        isLifeboat('S3_UNREACHABLE')(err);
        assert.match((err as Error).message, /upload of backup_node_1_400\.sqlite/);
        return true;
      });
      // Two parts in flight, three attempts each, and no new part after the first final failure.
      assert.ok(source.opened.length <= 2 * 3 + 1, `opened ${source.opened.length} ranges`);
      proxy.set({ kind: 'none' });
      assert.deepEqual(await names(direct), []);
      assert.equal(await danglingUploads(direct), 0);
    } finally {
      await proxy.close();
    }
  },
);

const failingSourceNotRetried =
  'a source that fails (e.g. the file changed) is not retried: its error, nothing stored, no upload left';
test(failingSourceNotRetried, async () => {
  const config = await s3.place();
  const store = new S3Store(config, { partSizeBytes: 5 * MiB, queueSize: 2 });
  const source = patternSource(30 * MiB, 6);
  const changed = new LifeboatError('SOURCE_CHANGED', 'the file changed');
  source.failAt(12 * MiB, changed);
  await assert.rejects(storeObject(store, 'backup_node_1_500.sqlite', source), isLifeboat('SOURCE_CHANGED'));
  assert.equal(source.opened.filter(([s]) => s === 10 * MiB).length, 1, 'the failing part was not opened again');
  assert.deepEqual(await names(config), []);
  assert.equal(await danglingUploads(config), 0);
});

test("the caller's signal stops every part: ABORTED, nothing stored, no upload left", async () => {
  const config = await s3.place();
  const store = new S3Store(config, { partSizeBytes: 5 * MiB, queueSize: 2 });
  const controller = new AbortController();
  const source = patternSource(100 * MiB, 7);
  let sent = 0;
  await assert.rejects(
    storeObject(store, 'backup_node_1_600.sqlite', source, {
      signal: controller.signal,
      onProgress: (n) => {
        sent = n;
        if (n >= 12 * MiB) controller.abort();
      },
    }),
    isLifeboat('ABORTED'),
  );
  assert.ok(sent < 40 * MiB, `sent ${sent} bytes`);
  assert.ok(source.opened.length <= 5, `opened ${source.opened.length} ranges`);
  assert.deepEqual(await names(config), []);
  assert.equal(await danglingUploads(config), 0);
});

localTest(
  'cancelled while the server is still answering CreateMultipartUpload: the upload it created is aborted too',
  async () => {
    const { proxy, config, direct } = await withProxy();
    try {
      // Answers trickle back, so the cancel lands after the server created the upload but
      // before the client knows its id.
      proxy.set({ kind: 'throttle', bytesPerSecond: 500 });
      const store = new S3Store(config, { partSizeBytes: 5 * MiB });
      const controller = new AbortController();
      const putting = storeObject(store, 'backup_node_1_800.sqlite', patternSource(12 * MiB, 8), {
        signal: controller.signal,
      });
      while ((await danglingUploads(direct)) === 0); // each check is a request to the server itself
      controller.abort();
      await assert.rejects(putting, isLifeboat('ABORTED'));
      assert.equal(await danglingUploads(direct), 0);
      assert.deepEqual(await names(direct), []);
    } finally {
      await proxy.close();
    }
  },
);
