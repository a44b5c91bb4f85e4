// The capability probe of continuous backup against the real S3 server (radosgw on 127.0.0.1),
// and against the two kinds of store it must refuse, which RGW cannot be made to be: one that
// ignores If-None-Match / If-Match (Garage) and one that answers 501 to them (Backblaze B2).
// Those two are faults of test/support/fault-proxy.ts in front of the real server.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { inspect } from 'node:util';
import type { S3Config } from '../../src/config/types.js';
import type { LifeboatError } from '../../src/errors.js';
import { probeConditionalWrites } from '../../src/pitr/probe.js';
import { getTestS3, localTest, onLocalServer, type TestS3 } from '../support/s3.js';
import { isLifeboat, openConditionalStore, withProxy } from '../support/s3-checks.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const PROBE_FOLDER = 'lifeboat-pitr/.probe/';

test('the probe passes on the real server, finds the ETag form it takes, and leaves nothing behind', async (t) => {
  const config = await s3.place();
  const store = openConditionalStore(config);
  const result = await probeConditionalWrites(store);
  // Ceph RGW takes If-Match only bare (real-s3-server.md); AWS, R2 and MinIO take it quoted.
  if (onLocalServer) assert.equal(result.etagForm, 'bare');
  assert.equal(store.etagForm, result.etagForm, 'the store keeps the form that worked');
  assert.ok(result.key.startsWith(PROBE_FOLDER));
  assert.deepEqual(await store.list(''), [], 'the probe object is deleted');
  t.diagnostic(`probe took ${result.ms} ms`);

  // The form found works for the next conditional replace; the other one does not (on RGW).
  const created = await store.putIfAbsent('lifeboat-pitr/db/head', Buffer.from('v1'));
  assert.ok(created.kind === 'written');
  if (onLocalServer) {
    const other = result.etagForm === 'bare' ? 'quoted' : 'bare';
    const refused = await store.putIfMatch('lifeboat-pitr/db/head', Buffer.from('x'), created.etag, {
      etagForm: other,
    });
    assert.equal(refused.kind, 'changed');
  }
  assert.equal((await store.putIfMatch('lifeboat-pitr/db/head', Buffer.from('v2'), created.etag)).kind, 'written');
});

/** The probe fails closed with PITR_NO_CONDITIONAL_WRITES at `step`, naming the store and what it saw. */
function failsClosed(config: S3Config, step: number, seen: RegExp) {
  return (err: unknown) => {
    isLifeboat('PITR_NO_CONDITIONAL_WRITES')(err);
    const e = err as LifeboatError;
    assert.match(e.message, new RegExp(`probe step ${step} \\(`));
    assert.match(e.message, seen);
    assert.ok(e.message.includes(`bucket "${config.bucket}"`), e.message);
    assert.match(e.hint ?? '', /AWS S3.*Cloudflare R2.*MinIO.*Ceph RGW.*B2 and Garage are not supported/);
    const shown = `${e.message} ${e.hint} ${inspect(e, { depth: 5 })}`;
    assert.ok(!shown.includes(config.secret) && !shown.includes(config.key), 'no credentials in the error');
    return true;
  };
}

localTest('a store that ignores If-None-Match and If-Match (Garage-like) fails closed at step 2', async () => {
  const { proxy, config, direct } = await withProxy();
  try {
    proxy.set({ kind: 'stripConditions', secretKey: config.secret });
    const store = openConditionalStore(config);
    await assert.rejects(probeConditionalWrites(store), failsClosed(config, 2, /expected 412, got 200/));
    // Step 1 went through with its header stripped (re-signed) and was written: the store was
    // reached and deleted the object again.
    assert.ok(proxy.injected >= 2, `conditions stripped: ${proxy.injected}`);
    assert.deepEqual(await openConditionalStore(direct).list(''), [], 'the probe object was deleted');
    assert.equal(store.etagForm, 'quoted', 'a failed probe sets no form');
  } finally {
    await proxy.close();
  }
});

localTest('a store that answers 501 NotImplemented to conditions (B2-like) fails closed at step 1', async () => {
  const { proxy, config, direct } = await withProxy();
  try {
    proxy.set({ kind: 'refuseConditions' });
    const store = openConditionalStore(config);
    await assert.rejects(probeConditionalWrites(store), failsClosed(config, 1, /got 501 NotImplemented/));
    assert.equal(proxy.injected, 1, 'a 501 is not retried');
    assert.deepEqual(await openConditionalStore(direct).list(''), [], 'nothing was left behind');
  } finally {
    await proxy.close();
  }
});

localTest('a first write whose answer is lost is not taken for a store without conditional writes', async () => {
  // The proxy resets the first connection as the server starts to answer (the object was created);
  // the SDK's retry is then refused (412) by that very object.
  const { proxy, config, direct } = await withProxy();
  try {
    proxy.set({ kind: 'cut', afterBytes: 0, times: 1 });
    const store = openConditionalStore(config);
    const result = await probeConditionalWrites(store);
    assert.equal(proxy.injected, 1, 'the answer to step 1 was cut');
    assert.equal(result.etagForm, 'bare', 'as RGW takes it');
    assert.deepEqual(await openConditionalStore(direct).list(''), [], 'the probe object was deleted');
  } finally {
    await proxy.close();
  }
});

localTest('a store that cannot be reached is S3_UNREACHABLE, not a verdict on conditional writes', async () => {
  const { proxy, config, direct } = await withProxy();
  await proxy.close(); // nothing listens there any more
  const store = openConditionalStore(config, { maxAttempts: 1, timeoutMs: 5000 });
  await assert.rejects(probeConditionalWrites(store), isLifeboat('S3_UNREACHABLE'));
  assert.deepEqual(await openConditionalStore(direct).list(''), []);
});

localTest('an interrupted probe stops with ABORTED and still deletes its object', async () => {
  const config = await s3.place();
  const store = openConditionalStore(config);
  const stop = new AbortController();
  // Stop right after step 1 wrote the object, from inside the store, so the timing is exact.
  const putIfAbsent = store.putIfAbsent.bind(store);
  store.putIfAbsent = async (key, body, options) => {
    const outcome = await putIfAbsent(key, body, options);
    stop.abort();
    return outcome;
  };
  await assert.rejects(probeConditionalWrites(store, { signal: stop.signal }), isLifeboat('ABORTED'));
  assert.deepEqual(await store.list(''), [], 'the probe object was deleted');
});
