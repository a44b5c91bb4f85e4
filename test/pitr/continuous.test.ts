import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { pino } from 'pino';
import { readDatabaseId } from '../../src/identity/identity.js';
import { Lifeboat } from '../../src/index.js';
import { ContinuousBackup, type ContinuousStatus } from '../../src/pitr/continuous.js';
import { pitrDbId } from '../../src/pitr/names.js';
import { restorePitr } from '../../src/pitr/restore/apply.js';
import { assessHealth, renderMetrics } from '../../src/server/status.js';
import Database from '../../src/sqlite/driver.js';
import { LocalStore } from '../../src/storage/local.js';
import { faults } from '../support/fault-proxy.js';
import { sample } from '../support/metrics.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { openConditionalStore, withProxy } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { KEY_A, keySet } from './fixtures.js';

/**
 * Continuous backup inside the library, configured as an operator does ([pitr] through
 * LIFEBOAT_PITR*): it starts in the background, flush() returns once every commit is in the
 * bucket, /metrics and /health report it, and the bucket restores the database to its last
 * commit. With S3 down, open() still returns at once, snapshots go on, and /health says why.
 */

const KEYS = { ENC_KEYS: `${KEY_A.id}/${KEY_A.key.toString('base64')}`, ENC_KEY_ACTIVE: KEY_A.id };

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

/** Resolves with the first 'pitr' event whose state is not `starting`. */
async function settled(lb: Lifeboat): Promise<ContinuousStatus> {
  const now = lb.continuousStatus();
  if (now && now.state !== 'starting') return now;
  for (;;) {
    const [status] = (await once(lb, 'pitr')) as [ContinuousStatus];
    if (status.state !== 'starting') return status;
  }
}

test('the library ships every commit; flush() means in the bucket; the bucket restores the last commit', {
  timeout: 120_000,
}, async () => {
  const cwd = tempDir();
  const config = await s3.place();
  const env = { ...KEYS, ...s3Env(config), LIFEBOAT_PITR: 'true', LIFEBOAT_PITR_SYNC_INTERVAL: '200ms' };
  // A first backup at start as well: it and continuous backup both need the database's identity.
  const lb = await Lifeboat.open({ cwd, env, backupOnStart: 'always', schedule: false });
  let txid = 0;
  try {
    lb.db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT)');
    const status = await settled(lb);
    assert.equal(status.state, 'healthy', status.error);
    await lb.whenStarted();
    assert.ok(lb.status().lastBackup?.remote, `the first backup was pushed: ${lb.status().lastError}`);
    const insert = lb.db.prepare('INSERT INTO items (body) VALUES (?)');
    for (let i = 0; i < 50; i++) insert.run(`row ${i}`);
    txid = await lb.flush();
    const report = await lb.statusReport();
    assert.equal(report.pitr?.capture?.shippedTxid, txid);
    const metrics = renderMetrics(report);
    assert.equal(sample(metrics, 'lifeboat_pitr_shipped_txid'), txid);
    assert.equal(sample(metrics, 'lifeboat_pitr_lag_seconds'), 0);
    assert.equal(sample(metrics, 'lifeboat_pitr_state', { state: 'healthy' }), 1);
    const listed = await openConditionalStore(config).list('lifeboat-pitr/');
    const bytesOf = (suffix: string) => listed.filter((o) => o.key.endsWith(suffix)).reduce((n, o) => n + o.size, 0);
    assert.equal(sample(metrics, 'lifeboat_pitr_shipped_bytes_total', { kind: 'segment' }), bytesOf('.lbs'));
    assert.equal(sample(metrics, 'lifeboat_pitr_shipped_bytes_total', { kind: 'base' }), bytesOf('.lbb'));
    assert.equal(
      sample(metrics, 'lifeboat_pitr_shipped_segments_total'),
      listed.filter((o) => o.key.endsWith('.lbs')).length,
    );
    assert.equal(sample(metrics, 'lifeboat_pitr_checkpoints_total', { result: 'done' }), 0, 'too few frames for one');
    assert.equal(sample(metrics, 'lifeboat_pitr_generations_total', { reason: 'first-start' }), 1);
    assert.equal(sample(metrics, 'lifeboat_pitr_generations_total', { reason: 'continuity-unproven' }), 0);
    assert.equal(sample(metrics, 'lifeboat_pitr_resumes_total', { from: 'wal' }), 0);
    assert.equal(sample(metrics, 'lifeboat_pitr_last_gap_timestamp_seconds'), 0);
    assert.equal(sample(metrics, 'lifeboat_pitr_base_failures_total', { reason: 'diverged' }), 0);
    assert.equal(sample(metrics, 'lifeboat_pitr_retention_runs_total', { result: 'failed' }), 0);
    // This machine's clock and the test server's (same host) agree within the Date header's second.
    assert.ok(Math.abs(sample(metrics, 'lifeboat_pitr_clock_offset_seconds') ?? Number.NaN) <= 2);
    // Valid Prometheus text without a lint finding (promtool comes with Debian's prometheus; CI installs it).
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
    if (lint.error === undefined) assert.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'promtool: no finding');
    assert.equal(assessHealth(report).state, 'ok');
  } finally {
    await lb.close();
  }
  const dbFile = lb.dbFile;
  const identity = await readDatabaseId(dbFile);
  assert.ok(identity, 'continuous backup gave the database its identity');
  const restored = join(cwd, 'restored.sqlite');
  const got = await restorePitr({
    store: openConditionalStore(config),
    keys: keySet(KEY_A),
    dbId: pitrDbId(identity),
    target: { kind: 'latest' },
    path: restored,
  });
  assert.equal(got.txid, txid);
  const db = new Database(restored, { readonly: true });
  assert.equal((db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n, 50);
  db.close();
});

test('S3 down: open() returns at once, continuous backup retries and /health says so; snapshots go on', {
  timeout: 120_000,
}, async () => {
  const cwd = tempDir();
  const { proxy, config } = await withProxy();
  proxy.set(faults.http500(1_000_000));
  const env = { ...KEYS, ...s3Env(config), LIFEBOAT_PITR: 'true', HQL_S3_TIMEOUT: '2' };
  const t0 = performance.now();
  const lb = await Lifeboat.open({ cwd, env, backupOnStart: 'never', schedule: false });
  try {
    assert.ok(performance.now() - t0 < 5000, 'open() did not wait for S3');
    lb.db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY)');
    const status = await settled(lb);
    assert.equal(status.state, 'retrying');
    const report = await lb.statusReport();
    assert.equal(report.pitr?.state, 'retrying');
    assert.match(report.pitr?.error ?? '', /injected by the test proxy/);
    assert.equal(assessHealth(report).state, 'degraded');
    // With the snapshots' remote answering, the reason is continuous backup's own.
    const pitrOnly = assessHealth({ ...report, remote: undefined });
    assert.match(pitrOnly.reason, /continuous backup is retrying: .*injected by the test proxy/);
    await assert.rejects(lb.flush(), /continuous backup is not running/);
    const local = await lb.backup().catch((err: { report?: { path: string } }) => err.report);
    assert.ok(local?.path, 'the snapshot was kept locally');
  } finally {
    await lb.close();
    await proxy.close();
  }
});

test('a database not yet in WAL (as a restore leaves it): continuous backup retries, then starts once it is', {
  timeout: 120_000,
}, async () => {
  const dir = tempDir();
  const dbFile = join(dir, 'app.db');
  const app = new Database(dbFile);
  app.exec('CREATE TABLE items (id INTEGER PRIMARY KEY)'); // rollback-journal mode, as after a restore
  const states: ContinuousStatus[] = [];
  const waiting: { state: string; resolve: () => void; reject: (err: Error) => void }[] = [];
  const reached = (state: string) =>
    states.some((s) => s.state === state)
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => waiting.push({ state, resolve, reject }));
  const store = openConditionalStore(await s3.place());
  const continuous = new ContinuousBackup({
    dbFile,
    nodeId: 1,
    local: new LocalStore(join(dir, 'backups')),
    remote: undefined,
    store,
    keys: keySet(KEY_A),
    syncIntervalMs: 100,
    windowMs: 86_400_000,
    rebaseEveryMs: 86_400_000,
    rebaseRatio: 3,
    checkpointPages: 1000,
    walHardPages: 16_384,
    walMaxPages: 65_536,
    logger: pino({ level: 'silent' }),
    retryMs: 50,
    onChange: (status) => {
      states.push(status);
      for (const w of waiting) if (w.state === status.state) w.resolve();
      if (status.state === 'refused') for (const w of waiting) w.reject(new Error(`refused: ${status.error}`));
    },
  });
  // Its retry timer does not keep a process alive (an application does): this test's must.
  const alive = setInterval(() => {}, 1000);
  try {
    continuous.start();
    await reached('retrying');
    const retrying = states.find((s) => s.state === 'retrying')!;
    assert.match(retrying.error ?? '', /not WAL/);
    assert.ok(!states.some((s) => s.state === 'refused'), 'not refused for good');
    app.pragma('journal_mode = WAL'); // the application opens it as it always does
    app.prepare('INSERT INTO items VALUES (1)').run();
    await reached('healthy');
    app.prepare('INSERT INTO items VALUES (2)').run();
    assert.ok((await continuous.flush()) > 0, 'it ships');
  } finally {
    clearInterval(alive);
    await continuous.close();
    app.close();
  }
});
