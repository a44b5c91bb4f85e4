// S3 never stops the application: Lifeboat.open does not wait for the remote store, backups
// go on locally while it fails, /health and /metrics say why, and once it answers again the
// newest local backup is pushed (the catch-up) and what the outage left in the bucket removed.
// Against the real radosgw, behind the fault proxy, and a server that never answers.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { before, test } from 'node:test';
import {
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { S3Config } from '../../src/config/types.js';
import { createDecryptStream } from '../../src/crypto/stream.js';
import { Lifeboat, RemotePushError } from '../../src/index.js';
import { createLogger } from '../../src/log.js';
import { startStatusServer } from '../../src/server/http.js';
import { assessHealth } from '../../src/server/status.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { createItemsDb } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { sample } from '../support/metrics.js';
import { getTestS3, localTest, s3Env, type TestS3 } from '../support/s3.js';
import { danglingUploads, names, withProxy } from '../support/s3-checks.js';
import { startSilentServer } from '../support/silent-server.js';
import { tempDir } from '../support/tmp.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const MiB = 1024 * 1024;
const KEY = 'k1/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';
const KEYS = { ENC_KEYS: KEY, ENC_KEY_ACTIVE: 'k1' };

/** Polls `condition` until it holds; fails after `ms`. */
async function waitFor(what: string, condition: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The first unfinished upload in the bucket once it has `parts` parts on the server. */
async function waitForParts(config: S3Config, parts: number): Promise<string> {
  const client = s3.client();
  let key = '';
  await waitFor(`an upload with ${parts} part(s)`, async () => {
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: config.bucket }));
    const u = uploads.Uploads?.[0];
    if (!u?.Key || !u.UploadId) return false;
    key = u.Key;
    const listed = await client.send(new ListPartsCommand({ Bucket: config.bucket, Key: u.Key, UploadId: u.UploadId }));
    return (listed.Parts?.length ?? 0) >= parts;
  });
  return key;
}

async function decrypted(config: S3Config, name: string, lb: Lifeboat): Promise<Buffer> {
  const keys = lb.config.encryption;
  assert.ok(keys);
  return buffer((await new S3Store(config).get(name)).pipe(createDecryptStream(keys)));
}

function jsonLogs(): { logger: ReturnType<typeof createLogger>; records: () => Array<{ level: number; msg: string }> } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const records = () =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; msg: string });
  return { logger: createLogger({ format: 'json', stream: out }), records };
}

const openNeverAnswering =
  'open returns at once against an S3 endpoint that accepts and never answers; backups are kept locally, ' +
  'and /health and /metrics say the remote fails and why';
test(openNeverAnswering, async () => {
  const server = await startSilentServer();
  const config = { ...(await s3.place()), url: server.url };
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 200);
  const clock = new FakeClock(Date.now());
  const t0 = performance.now();
  const lb = await Lifeboat.open({
    cwd,
    env: { ...s3Env(config), ...KEYS, HQL_S3_TIMEOUT: '2' },
    dbPath: db,
    schedule: false,
    clock,
  });
  const opened = performance.now() - t0;
  const status = await startStatusServer(lb, { host: '127.0.0.1', port: 0 }, createLogger({ level: 'silent' }));
  try {
    assert.ok(opened < 5000, `open took ${opened.toFixed(0)} ms`);
    assert.equal(lb.remoteStatus()?.state, 'unknown', 'nothing heard from the store yet');
    // The first backup (none existed) is taken; its push fails within the bound, the file stays.
    await lb.whenStarted();
    assert.equal((await localNames(lb)).length, 1);
    const remote = lb.remoteStatus();
    assert.equal(remote?.state, 'failing');
    assert.equal(remote?.lastError?.code, 'S3_TIMEOUT');
    assert.match(remote?.lastError?.message ?? '', /no answer within 2 s|no byte moved for 2 s/);

    // An on-demand backup during the outage: kept locally, the push fails (RemotePushError).
    clock.advance(1000);
    const t1 = performance.now();
    const err = await lb.backup().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof RemotePushError, String(err));
    assert.ok(performance.now() - t1 < 2000 + 3000, 'the push gave up within the bound');
    assert.ok(existsSync(err.report.path), 'the local backup is kept');
    assert.equal((await localNames(lb)).length, 2);

    const health = await fetch(`${status.url}/health`);
    const body = (await health.json()) as { status: string; reason: string; remote: { state: string } };
    assert.equal(health.status, 503);
    assert.equal(body.status, 'degraded');
    assert.match(body.reason, new RegExp(`remote store \\(s3 bucket "${config.bucket}" at ${config.url}\\) fails`));
    assert.match(body.reason, /S3_TIMEOUT/);
    assert.equal(body.remote.state, 'failing');
    const metrics = await (await fetch(`${status.url}/metrics`)).text();
    assert.equal(sample(metrics, 'lifeboat_remote_up'), 0);
    // Each run counts once: two kept locally whose push failed, none that kept nothing.
    assert.equal(sample(metrics, 'lifeboat_backups_total', { result: 'push_failed' }), 2);
    assert.equal(sample(metrics, 'lifeboat_backups_total', { result: 'failure' }), 0);
    assert.equal(sample(metrics, 'lifeboat_remote_push_failures_total'), 2);
  } finally {
    await status.close();
    const t2 = performance.now();
    await lb.close();
    assert.ok(performance.now() - t2 < 2000, 'close does not wait for the store');
    await server.close();
  }
});

async function localNames(lb: Lifeboat): Promise<string[]> {
  return (await lb.local.list()).map((o) => o.name).filter((n) => n.startsWith('backup_node_'));
}

localTest(
  'a server that hangs mid-upload: the backup fails within the bound and keeps its file; when the server ' +
    'answers again the catch-up pushes it (probed after 30 s on the clock) and no upload is left',
  async () => {
    const { proxy, config, direct } = await withProxy();
    const T = 2000;
    const remote = new S3Store(config, { timeoutMs: T, partSizeBytes: 5 * MiB, queueSize: 3 });
    const cwd = tempDir();
    const db = join(cwd, 'app.db');
    createItemsDb(db, 50_000); // ~12 MB: three parts
    const clock = new FakeClock(Date.now());
    const lb = await Lifeboat.open({
      cwd,
      env: KEYS,
      dbPath: db,
      schedule: false,
      backupOnStart: 'never',
      clock,
      remote,
    });
    try {
      await waitFor('the start-up check', () => lb.remoteStatus()?.state === 'ok');
      // Parts hang once 3 MiB of them are through (the small last one goes up); then the whole server.
      proxy.set({ kind: 'hangAfter', afterBytes: 3 * MiB });
      const run = lb.backup();
      run.catch(() => undefined);
      await waitForParts(direct, 1);
      proxy.hang();
      const hungAt = performance.now();
      const err = await run.then(
        () => undefined,
        (e: unknown) => e,
      );
      const took = performance.now() - hungAt;
      assert.ok(err instanceof RemotePushError, String(err));
      // The stalled parts fail within T; the abort that cannot get through is one more T at most.
      assert.ok(took < 2 * T + 1500, `failed ${took.toFixed(0)} ms after the server hung`);
      const name = err.report.name;
      assert.ok(existsSync(err.report.path));
      assert.equal(lb.remoteStatus()?.state, 'failing');
      assert.equal(lb.remoteStatus()?.lastError?.code, 'S3_TIMEOUT');
      assert.equal(await danglingUploads(direct), 1, 'the abort did not get through');

      // The server answers again; the monitor probes on the injected clock, 30 s after the failure.
      proxy.set({ kind: 'none' });
      const wake = await clock.nextSleep();
      assert.equal(wake.getTime() - clock.now().getTime(), 30_000);
      clock.advanceTo(wake);
      // Connections the client kept from before the hang may still be dead: a probe that meets
      // one fails, and the next comes after a longer pause (advanced here).
      await waitFor(
        'the catch-up push',
        async () => {
          if (lb.remoteStatus()?.catchUpPushes === 1) return true;
          if (clock.sleeping > 0) clock.advanceTo(await clock.nextSleep());
          return false;
        },
        30_000,
      );
      assert.equal(lb.remoteStatus()?.state, 'ok');
      await waitFor('no unfinished upload left', async () => (await danglingUploads(direct)) === 0);
      assert.deepEqual(await names(direct), [name]);
      assert.ok((await decrypted(direct, name, lb)).equals(readFileSync(err.report.path)));
      const health = assessHealth(await lb.statusReport());
      assert.equal(health.state, 'ok', health.reason);
    } finally {
      await lb.close();
      await proxy.close();
    }
  },
);

const startCatchUp =
  'at start, the newest local backup missing in the bucket is pushed, but never one older than the newest there';
test(startCatchUp, async () => {
  const config = await s3.place();
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 100);
  const clock = new FakeClock(Date.now());
  // A local backup taken while S3 was not configured at all.
  const offline = await Lifeboat.open({ cwd, env: {}, dbPath: db, schedule: false, clock });
  await offline.whenStarted();
  const [local] = await localNames(offline);
  await offline.close();
  assert.ok(local);
  const localTime = Number(/_(\d+)\.sqlite$/.exec(local)?.[1]);
  const newer = `backup_node_2_${localTime + 60}.sqlite`;
  const client = s3.client();
  await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: newer, Body: 'another node' }));

  const logs = jsonLogs();
  const env = { ...s3Env(config), ...KEYS };
  const lb = await Lifeboat.open({ cwd, env, dbPath: db, schedule: false, clock, logger: logs.logger });
  try {
    await waitFor('the start-up check', () =>
      logs.records().some((r) => r.msg.startsWith(`not pushing ${local}: the remote store holds a newer backup`)),
    );
    assert.deepEqual(await names(config), [newer]);
    assert.equal(lb.remoteStatus()?.state, 'ok');
    // Without the newer one, checking now pushes the local backup.
    await client.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: newer }));
    const after = await lb.checkRemote();
    assert.equal(after?.catchUpPushes, 1);
    assert.deepEqual(await names(config), [local]);
    assert.ok((await decrypted(config, local, lb)).equals(readFileSync(join(lb.local.dir, local))));
    assert.ok(logs.records().some((r) => r.msg.startsWith(`catching up: pushing ${local}`)));
  } finally {
    await lb.close();
  }
});
