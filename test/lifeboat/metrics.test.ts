// What Lifeboat.statusReport() gathers for /metrics: each run counted once by its result, and
// the last-success gauge read from the stores, so a restart does not reset it.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DeleteBucketPolicyCommand, PutBucketPolicyCommand } from '@aws-sdk/client-s3';
import type { S3Config } from '../../src/config/types.js';
import { Lifeboat, LocalStore, RemotePushError } from '../../src/index.js';
import { S3Store } from '../../src/s3.js';
import { renderMetrics } from '../../src/server/status.js';
import { createItemsDb } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { faults } from '../support/fault-proxy.js';
import { sample } from '../support/metrics.js';
import { plantBackups } from '../support/plan.js';
import { getTestS3 } from '../support/s3.js';
import { names, withProxy } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';

const KEYS = { ENC_KEYS: 'k1/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=', ENC_KEY_ACTIVE: 'k1' };
const sec = (d: Date | string) => new Date(d).getTime() / 1000;

/** Polls `condition` until it holds; fails after `ms`. */
async function waitFor(what: string, condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Lifeboat on `db`, no schedule, pushing to `config`'s bucket. */
function openWithRemote(cwd: string, db: string, clock: FakeClock, config: S3Config): Promise<Lifeboat> {
  return Lifeboat.open({
    cwd,
    env: KEYS,
    dbPath: db,
    backupOnStart: 'never',
    schedule: false,
    clock,
    remote: new S3Store(config, { timeoutMs: 5000 }),
  });
}

const countsOnce =
  'each run counts once: one whose push failed, one success, one that kept nothing — and the histograms ' +
  'and gauges follow';
test(countsOnce, async () => {
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 100);
  // The real S3 server behind the fault proxy, which answers every request with 500 at first.
  const { proxy, config } = await withProxy();
  proxy.set(faults.http500(1_000_000));
  const clock = new FakeClock('2026-11-24T10:00:00Z');
  const lb = await openWithRemote(cwd, db, clock, config);
  try {
    const push = await lb.backup().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(push instanceof RemotePushError, String(push));
    proxy.set({ kind: 'none' });
    clock.advance(5000);
    const ok = await lb.backup();
    assert.ok(ok.remote, 'pushed');
    clock.advance(5000);
    rmSync(db);
    const local = await lb.backup().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(local instanceof Error && !(local instanceof RemotePushError), String(local));
    const failedAt = clock.now();
    // The store was not listed yet (its first probe met the 500s): list it now.
    await lb.checkRemote();

    const text = renderMetrics(await lb.statusReport());
    const get = (name: string, labels: Record<string, string> = {}) => sample(text, name, labels);
    assert.deepEqual(
      ['success', 'failure', 'push_failed'].map((result) => get('lifeboat_backups_total', { db: 'app.db', result })),
      [1, 1, 1],
      'three runs, three counts',
    );
    assert.equal(get('lifeboat_remote_push_failures_total'), 1, 'the same push failure, under its old name');
    assert.equal(get('lifeboat_backup_last_failure_timestamp_seconds'), sec(failedAt), 'the run that kept nothing');
    assert.equal(get('lifeboat_backup_duration_seconds_count'), 1, 'successful runs only');
    assert.equal(get('lifeboat_backup_size_bytes_count'), 1);
    assert.equal(get('lifeboat_backup_size_bytes_sum'), ok.bytes);
    assert.equal(get('lifeboat_backup_last_success_timestamp_seconds'), sec(ok.startedAt));
    assert.equal(get('lifeboat_newest_local_backup_timestamp_seconds'), sec(ok.startedAt));
    assert.equal(get('lifeboat_local_backups'), 2, 'the push-failed run kept its backup');
    assert.equal(get('lifeboat_newest_remote_backup_timestamp_seconds'), sec(ok.startedAt));
    assert.equal(get('lifeboat_remote_backups'), 1);
    assert.equal(get('lifeboat_remote_up'), 1);
    assert.equal(get('lifeboat_build_info', { node: process.versions.node }), 1);
    assert.match(text, /^lifeboat_build_info\{db="app\.db",node_id="1",version="\d+\.\d+\.\d+[^"]*",sqlite="3\.\d+/m);
  } finally {
    await lb.close();
    await proxy.close();
  }
});

const restartGauge =
  'after a restart the last-success gauge is the newest backup in the folder at once, and in the remote store ' +
  'once listed; pushes and expiries are followed without listing again';
test(restartGauge, async () => {
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 100);
  const clock = new FakeClock('2026-11-24T10:00:00Z');
  const first = await Lifeboat.open({ cwd, env: {}, dbPath: db, schedule: false, clock });
  await first.whenStarted();
  const [made] = (await first.list()).local;
  await first.close();
  assert.ok(made);

  // A new process, an hour later: nothing done since it started, but the backup is there.
  clock.advance(3600_000);
  const again = await Lifeboat.open({ cwd, env: {}, dbPath: db, schedule: false, clock });
  try {
    const text = renderMetrics(await again.statusReport());
    assert.equal(sample(text, 'lifeboat_backup_last_success_timestamp_seconds'), sec(made.time));
    assert.equal(sample(text, 'lifeboat_backups_total', { result: 'success' }), 0, 'counts start at zero');
    assert.equal(sample(text, 'lifeboat_start_time_seconds'), sec(clock.now()));
  } finally {
    await again.close();
  }

  // With a remote store holding another node's newer backup, and an old one of this node.
  const remoteDir = join(cwd, 'remote');
  const remote = new LocalStore(remoteDir);
  const t = sec(made.time);
  const newer = `backup_node_2_${t + 1800}.sqlite`;
  const old = `backup_node_1_${t - 40 * 86400}.sqlite`;
  await remote.create(newer, Buffer.from('another node'));
  await remote.create(old, Buffer.from('an old one'));
  const withRemote = await Lifeboat.open({
    cwd,
    env: KEYS,
    config: { backupKeepMin: 0 },
    dbPath: db,
    schedule: false,
    backupOnStart: 'never',
    clock,
    remote,
  });
  try {
    await waitFor('the first listing', async () => (await withRemote.statusReport()).remote?.backups !== undefined);
    let text = renderMetrics(await withRemote.statusReport());
    assert.equal(sample(text, 'lifeboat_backup_last_success_timestamp_seconds'), t + 1800, "the other node's");
    assert.equal(sample(text, 'lifeboat_newest_remote_backup_timestamp_seconds'), t + 1800);
    assert.equal(sample(text, 'lifeboat_newest_local_backup_timestamp_seconds'), t);
    assert.equal(sample(text, 'lifeboat_remote_backups'), 2);

    clock.advance(1000);
    const report = await withRemote.backup();
    assert.deepEqual(report.remote?.expired, [old], 'retention removed the 40-day-old one');
    text = renderMetrics(await withRemote.statusReport());
    const listed = (await remote.list()).filter((o) => o.name.startsWith('backup_node_'));
    assert.equal(sample(text, 'lifeboat_remote_backups'), listed.length);
    assert.equal(listed.length, 2);
    assert.equal(sample(text, 'lifeboat_newest_remote_backup_timestamp_seconds'), sec(report.startedAt));
    assert.equal(sample(text, 'lifeboat_backup_last_success_timestamp_seconds'), sec(report.startedAt));
  } finally {
    await withRemote.close();
  }
});

const mayNotDelete =
  'a bucket that may not delete: the runs succeed, their remote retention counts as failed and deletes ' +
  'nothing; once it may, the next run deletes';
test(mayNotDelete, async () => {
  const s3 = await getTestS3();
  const config = await s3.place();
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 50);
  const nowS = Math.floor(Date.now() / 1000);
  // In the folder and the bucket, 1, 2, 40 and 41 days old: the two oldest expire in both.
  const old = await plantBackups(join(cwd, 'data', 'state_machine', 'backups'), {
    days: [1, 2, 40, 41],
    nowS,
    config,
  });
  // A real refusal: a bucket policy that denies DeleteObject (radosgw enforces it on the owner too).
  const policy = async (deny: boolean) => {
    const client = s3.client();
    if (!deny) return void (await client.send(new DeleteBucketPolicyCommand({ Bucket: config.bucket })));
    const Statement = [
      { Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', Resource: `arn:aws:s3:::${config.bucket}/*` },
    ];
    await client.send(
      new PutBucketPolicyCommand({
        Bucket: config.bucket,
        Policy: JSON.stringify({ Version: '2012-10-17', Statement }),
      }),
    );
  };
  await policy(true);
  const clock = new FakeClock(nowS * 1000);
  const lb = await openWithRemote(cwd, db, clock, config);
  const runs = async () => {
    const text = renderMetrics(await lb.statusReport());
    return Object.fromEntries(
      ['local', 'remote'].flatMap((store) =>
        ['deleted', 'nothing', 'skipped', 'failed'].map((result) => [
          `${store} ${result}`,
          sample(text, 'lifeboat_backup_retention_runs_total', { store, result }),
        ]),
      ),
    );
  };
  try {
    const first = await lb.backup();
    assert.equal(first.localRetention, 'deleted');
    assert.deepEqual([...first.expiredLocal].sort(), old.slice(0, 2));
    assert.equal(first.remote?.retention, 'failed');
    assert.deepEqual(first.remote?.expired, []);
    assert.ok(
      first.warnings.some((w) => w.startsWith(`could not delete expired backup ${old[0]} from s3 bucket`)),
      first.warnings.join('\n'),
    );
    assert.ok((await names(config)).includes(old[0]!), 'nothing deleted from the bucket');
    assert.deepEqual(await runs(), {
      'local deleted': 1,
      'local nothing': 0,
      'local skipped': 0,
      'local failed': 0,
      'remote deleted': 0,
      'remote nothing': 0,
      'remote skipped': 0,
      'remote failed': 1,
    });

    await policy(false);
    clock.advance(5000);
    const second = await lb.backup();
    assert.equal(second.localRetention, 'nothing');
    assert.equal(second.remote?.retention, 'deleted');
    assert.deepEqual([...(second.remote?.expired ?? [])].sort(), old.slice(0, 2));
    const after = await runs();
    assert.deepEqual([after['local nothing'], after['remote deleted'], after['remote failed']], [1, 1, 1]);
  } finally {
    await lb.close();
    await policy(false);
  }
});
