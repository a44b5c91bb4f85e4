// The bound on a stalled S3 operation (S3StoreOptions.timeoutMs, `s3_timeout`): every control
// request is answered within it or fails, retries included; a request that carries data fails
// once none of its bytes moved for it, but is never cut off while they move. Against a server
// that accepts connections and never answers (test/support/silent-server.ts) and the real
// radosgw behind the fault proxy.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { S3Config } from '../../src/config/types.js';
import type { LifeboatError } from '../../src/errors.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { storeObject } from '../../src/storage/store.js';
import { bufferSource, patternSource } from '../support/range-source.js';
import { getTestS3, localTest, type TestS3 } from '../support/s3.js';
import { danglingUploads, isLifeboat, names, withProxy } from '../support/s3-checks.js';
import { startSilentServer } from '../support/silent-server.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const MiB = 1024 * 1024;

/** Runs `op`, expects S3_TIMEOUT, and returns how long it took. */
async function timedOut(op: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await assert.rejects(op(), (err: unknown) => {
    isLifeboat('S3_TIMEOUT')(err);
    assert.match((err as LifeboatError).hint ?? '', /HQL_S3_TIMEOUT/);
    return true;
  });
  return performance.now() - t0;
}

/** Polls until the upload of `key` has `count` parts on the server (deadline 20 s). */
async function waitForParts(client: S3Client, config: S3Config, key: string, count: number): Promise<void> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: config.bucket }));
    const upload = uploads.Uploads?.find((u) => u.Key === key);
    if (upload?.UploadId) {
      const parts = await client.send(
        new ListPartsCommand({ Bucket: config.bucket, Key: key, UploadId: upload.UploadId }),
      );
      if ((parts.Parts?.length ?? 0) >= count) return;
    }
    if (performance.now() > deadline) throw new Error(`no ${count} part(s) of ${key} within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const silentControl =
  'an endpoint that accepts and never answers: every control request fails with S3_TIMEOUT within the bound, ' +
  'after more than one attempt';
test(silentControl, async () => {
  const server = await startSilentServer();
  const config = { ...(await s3.place()), url: server.url };
  const T = 1500;
  const store = new S3Store(config, { timeoutMs: T });
  try {
    const ops: Array<[string, () => Promise<unknown>]> = [
      ['list', () => store.list()],
      ['stat', () => store.stat('backup_node_1_1.sqlite')],
      ['get', () => store.get('backup_node_1_1.sqlite')],
      ['create', () => store.create('backup_node_1_1.sqlite', Buffer.from('x'))],
      ['delete', () => store.delete('backup_node_1_1.sqlite')],
      ['access check', () => store.checkAccess()],
      ['leftovers', () => store.removeLeftovers(new Date())],
      ['single-part put', () => storeObject(store, 'backup_node_1_2.sqlite', bufferSource('small'))],
      ['multipart create', () => storeObject(store, 'backup_node_1_3.sqlite', patternSource(11 * MiB))],
    ];
    // In pairs: the bound holds for requests side by side too, and the test takes half as long.
    for (let i = 0; i < ops.length; i += 2) {
      const batch = ops.slice(i, i + 2);
      const took = await Promise.all(batch.map(([, op]) => timedOut(op)));
      for (const [j, ms] of took.entries()) {
        const what = batch[j]![0];
        assert.ok(ms >= T - 50 && ms < T + 1000, `${what} gave up after ${ms.toFixed(0)} ms (bound ${T} ms)`);
      }
    }
    // The idle timeout of one attempt is half the bound: a stalled control request is tried again.
    assert.ok(server.connections > ops.length, `${server.connections} connections for ${ops.length} operations`);
  } finally {
    store.close();
    await server.close();
  }
});

test('closing the store ends a request in flight at once with ABORTED, not after the bound', async () => {
  const server = await startSilentServer();
  const config = { ...(await s3.place()), url: server.url };
  const store = new S3Store(config, { timeoutMs: 60_000 });
  try {
    const t0 = performance.now();
    const listing = store.list();
    setImmediate(() => store.close());
    await assert.rejects(listing, isLifeboat('ABORTED'));
    assert.ok(performance.now() - t0 < 2000);
  } finally {
    await server.close();
  }
});

for (const unseen of [false, true]) {
  const title = unseen
    ? 'a server that hangs mid-upload and acts on the abort without answering: removeLeftovers finds it gone'
    : 'a server that hangs mid-upload: the upload fails within the bound; the abort that could not get through ' +
      'is remembered, and removeLeftovers removes the upload once the server answers again';
  localTest(title, async () => {
    const { proxy, config, direct } = await withProxy();
    const T = 2000;
    const store = new S3Store(config, { timeoutMs: T, partSizeBytes: 5 * MiB, queueSize: 3 });
    try {
      // Parts of 5 MiB hang once 3 MiB of them are through; the last part (1 MiB) goes up.
      proxy.set({ kind: 'hangAfter', afterBytes: 3 * MiB });
      const t0 = performance.now();
      const put = storeObject(store, 'backup_node_1_600.sqlite', patternSource(11 * MiB, 6));
      put.catch(() => undefined);
      await waitForParts(s3.client(), direct, 'backup_node_1_600.sqlite', 1);
      // Now the whole server hangs: the abort after the failure gets no answer either.
      proxy.hang(unseen ? { kind: 'stall' } : undefined);
      await assert.rejects(put, (err: unknown) => {
        isLifeboat('S3_TIMEOUT')(err);
        assert.match((err as Error).message, /no byte moved for 2 s|inactivity/);
        return true;
      });
      const took = performance.now() - t0;
      // The stalled parts fail at T; the abort is one more control request (another T at most).
      assert.ok(took < 2 * T + 1500, `failed after ${took.toFixed(0)} ms`);
      assert.equal(await danglingUploads(direct), unseen ? 0 : 1, 'whether the abort reached the server');

      proxy.set({ kind: 'none' });
      // The upload is seconds old: only the one remembered is removed, the age rule removes none.
      assert.deepEqual(await store.removeLeftovers(new Date(0)), ['backup_node_1_600.sqlite']);
      assert.equal(await danglingUploads(direct), 0);
      assert.deepEqual(await store.removeLeftovers(new Date(0)), [], 'nothing is remembered any more');
      assert.deepEqual(await names(direct), []);
    } finally {
      store.close();
      await proxy.close();
    }
  });
}

localTest('an upload that takes far longer than the bound is not cut off while its bytes keep moving', async () => {
  const { proxy, config, direct } = await withProxy();
  const T = 2500;
  // One part at a time over a slow link. (The OS buffers a few MB of each part at once, which
  // drain unseen: at 6 MiB/s that is under a second, well within the bound.)
  const store = new S3Store(config, { timeoutMs: T, partSizeBytes: 5 * MiB, queueSize: 1 });
  try {
    proxy.set({ kind: 'slowUpload', bytesPerSecond: 6 * MiB });
    const source = patternSource(40 * MiB, 7);
    const t0 = performance.now();
    await storeObject(store, 'backup_node_1_700.sqlite', source);
    const took = performance.now() - t0;
    assert.ok(took > 2 * T, `the upload took ${took.toFixed(0)} ms, more than twice the bound of ${T} ms`);
    assert.deepEqual(await names(direct), ['backup_node_1_700.sqlite']);
    assert.equal(source.opened.length, 8, 'no part was cut off and sent again');
    assert.equal(await danglingUploads(direct), 0);
  } finally {
    store.close();
    await proxy.close();
  }
});

localTest(
  'removeLeftovers: only unfinished uploads under the prefix, older than the limit, with own names',
  async () => {
    const config = await s3.place();
    const client = s3.client();
    const prefix = 'prod/';
    for (const key of [
      `${prefix}backup_node_1_100.sqlite`,
      `${prefix}notes.txt`,
      `${prefix}deeper/backup_node_1_100.sqlite`,
      'backup_node_1_100.sqlite',
    ]) {
      await client.send(new CreateMultipartUploadCommand({ Bucket: config.bucket, Key: key }));
    }
    const store = new S3Store({ ...config, prefix });
    const isBackup = (name: string) => name.startsWith('backup_node_');
    assert.deepEqual(await store.removeLeftovers(new Date(Date.now() - 3_600_000), isBackup), [], 'all are young');
    const later = new Date(Date.now() + 3_600_000);
    assert.deepEqual(await store.removeLeftovers(later, isBackup), ['backup_node_1_100.sqlite']);
    assert.equal(await danglingUploads(config), 3, 'a foreign name, a deeper key and one outside the prefix stay');
    store.close();
  },
);
