// The heartbeat after each successful backup: its configuration (never echoed), the request a
// dead-man service receives, and that it never fails a backup. Against a small HTTP server
// on 127.0.0.1 and the real CLI.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { loadConfig } from '../../src/config/load.js';
import { describeConfig, formatConfig } from '../../src/config/redact.js';
import { type BackupStore, ConfigError, Lifeboat, RemotePushError } from '../../src/index.js';
import { createLogger } from '../../src/log.js';
import { S3Store } from '../../src/s3.js';
import { Heartbeat } from '../../src/server/heartbeat.js';
import { renderMetrics } from '../../src/server/status.js';
import { runCli } from '../support/cli.js';
import { createItemsDb } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { faults } from '../support/fault-proxy.js';
import { startHttpRecorder } from '../support/http-recorder.js';
import { sample } from '../support/metrics.js';
import { withProxy } from '../support/s3-checks.js';
import { startSilentServer } from '../support/silent-server.js';
import { tempDir } from '../support/tmp.js';

const TOKEN = '5e1b7c1d-hb-token-do-not-print';
const KEYS = { ENC_KEYS: 'k1/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=', ENC_KEY_ACTIVE: 'k1' };

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ env, cwd: tempDir() });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

function jsonLogs() {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  return { logger: createLogger({ format: 'json', stream: out }), text: () => text };
}

test('heartbeat configuration: http(s) only, no user:password, GET or POST; the URL is never shown', () => {
  const url = `https://hc-ping.com/${TOKEN}?rid=1`;
  const config = loadConfig({ env: { HQL_BACKUP_HEARTBEAT_URL: url }, cwd: tempDir() });
  assert.deepEqual({ ...config.heartbeat }, { url, method: 'GET' });
  const shown = formatConfig(describeConfig(config));
  assert.match(shown, /^cluster\.backup_heartbeat_url\s+= "https:\/\/hc-ping\.com\/\*\*\*"\s+# env, /m);
  for (const text of [shown, JSON.stringify(config), inspect(config, { depth: 5 })])
    assert.ok(!text.includes(TOKEN), `the token leaked: ${text}`);
  assert.equal(
    loadConfig({ env: { HQL_BACKUP_HEARTBEAT_URL: url, HQL_BACKUP_HEARTBEAT_METHOD: 'post' }, cwd: tempDir() })
      .heartbeat?.method,
    'POST',
  );
  assert.equal(loadConfig({ env: {}, cwd: tempDir() }).heartbeat, undefined, 'off by default');

  const bad = [
    [{ HQL_BACKUP_HEARTBEAT_URL: `ftp://example.com/${TOKEN}` }, /HQL_BACKUP_HEARTBEAT_URL.*not an http\(s\) URL/],
    [{ HQL_BACKUP_HEARTBEAT_URL: `hc-ping.com/${TOKEN}` }, /not an http\(s\) URL/],
    [{ HQL_BACKUP_HEARTBEAT_URL: `https://user:${TOKEN}@example.com/` }, /must not contain user:password@/],
    [{ HQL_BACKUP_HEARTBEAT_URL: `https://example.com/${TOKEN}\n` }, /HQL_BACKUP_HEARTBEAT_URL.*ends in whitespace/],
    [
      { HQL_BACKUP_HEARTBEAT_URL: url, HQL_BACKUP_HEARTBEAT_METHOD: 'PUT' },
      /HEARTBEAT_METHOD.*"PUT" is not GET or POST/,
    ],
  ] as const;
  for (const [env, message] of bad) {
    const problems = problemsOf(env);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, message);
    assert.ok(!problems[0]!.includes(TOKEN), problems[0]);
  }
});

const afterSuccess =
  'GET after each successful backup, POST with the backup in JSON; a failing service is a warning and a ' +
  'count, never a failed backup; nothing after a failed push';
test(afterSuccess, async () => {
  const service = await startHttpRecorder();
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 100);
  const clock = new FakeClock('2026-11-24T10:00:00Z');
  const logs = jsonLogs();
  const open = (env: Record<string, string>, remote?: BackupStore) =>
    Lifeboat.open({
      cwd,
      env: { ...env, HQL_BACKUP_HEARTBEAT_URL: `${service.url}/ping/${TOKEN}` },
      dbPath: db,
      backupOnStart: 'never',
      schedule: false,
      clock,
      logger: logs.logger,
      ...(remote ? { remote } : {}),
    });
  let lb = await open({});
  try {
    await lb.backup();
    const get = await service.request(0);
    assert.equal(get.method, 'GET');
    assert.equal(get.url, `/ping/${TOKEN}`);
    assert.match(String(get.headers['user-agent']), /^lifeboat\/\d+\.\d+\.\d+/);
    await waitForBeats(lb, 1);

    // The service answers 500: logged and counted, and the backup still resolves.
    service.answer(500);
    clock.advance(1000);
    await lb.backup();
    await service.request(1);
    await waitForBeats(lb, 2);
    const text = renderMetrics(await lb.statusReport());
    assert.equal(sample(text, 'lifeboat_heartbeats_total', { result: 'success' }), 1);
    assert.equal(sample(text, 'lifeboat_heartbeats_total', { result: 'failure' }), 1);
    const warning = logs
      .text()
      .split('\n')
      .find((l) => l.includes('heartbeat to'));
    assert.match(warning ?? '', /"level":"warn".*heartbeat to http:\/\/127\.0\.0\.1:\d+ failed: HTTP 500/);
    const health = (await lb.statusReport()).heartbeat;
    assert.deepEqual([health?.target, health?.lastFailure?.message], [service.url, 'HTTP 500 Internal Server Error']);
  } finally {
    await lb.close();
  }
  assert.ok(!logs.text().includes(TOKEN), 'the token is never logged');

  // POST, with a remote store: the body names the backup; then a push that fails sends nothing.
  service.answer(200);
  const { proxy, config } = await withProxy();
  lb = await open({ ...KEYS, HQL_BACKUP_HEARTBEAT_METHOD: 'POST' }, new S3Store(config));
  try {
    clock.advance(1000);
    const report = await lb.backup();
    const post = await service.request(2);
    assert.equal(post.method, 'POST');
    assert.equal(post.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(post.body), {
      event: 'backup',
      database: 'app.db',
      nodeId: 1,
      backup: report.name,
      at: report.startedAt.toISOString(),
      bytes: report.bytes,
      durationMs: Math.round(report.durationMs),
      pushed: true,
    });
    await waitForBeats(lb, 1);
    await lb.close();

    // The store answers every request with 500 (a new store: new connections, through the fault).
    proxy.set(faults.http500(1_000_000));
    lb = await open({ ...KEYS }, new S3Store(config, { timeoutMs: 5000 }));
    clock.advance(1000);
    await assert.rejects(lb.backup(), RemotePushError);
    await lb.close();
    assert.equal(service.requests.length, 3, 'no heartbeat after a failed push');
  } finally {
    await lb.close();
    await service.close();
    await proxy.close();
  }
});

async function waitForBeats(lb: Lifeboat, n: number): Promise<void> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const beat = (await lb.statusReport()).heartbeat;
    if (beat && beat.successes + beat.failures >= n) return;
    if (performance.now() > deadline) throw new Error(`${n} heartbeat(s) not done within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a service that never answers: the heartbeat gives up after its timeout and says so', async () => {
  const silent = await startSilentServer();
  const logs = jsonLogs();
  const beat = new Heartbeat({
    url: `${silent.url}/${TOKEN}`,
    method: 'GET',
    logger: logs.logger,
    clock: new FakeClock('2026-11-24T10:00:00Z'),
    timeoutMs: 300,
  });
  try {
    const t0 = performance.now();
    await beat.beat({
      database: 'app.db',
      nodeId: 1,
      name: 'backup_node_1_1795514400.sqlite',
      startedAt: new Date('2026-11-24T10:00:00Z'),
      bytes: 1,
      durationMs: 1,
      pushed: false,
    });
    const took = performance.now() - t0;
    assert.ok(took >= 250 && took < 3000, `took ${took.toFixed(0)} ms`);
    assert.equal(beat.status().failures, 1);
    assert.equal(beat.status().lastFailure?.message, 'no answer within 0.3 s');
    assert.ok(!logs.text().includes(TOKEN));
  } finally {
    await silent.close();
  }
});

test('lifeboat backup sends the heartbeat too, and a failing one does not change its exit code', async () => {
  const service = await startHttpRecorder();
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 50);
  const env = {
    HQL_DATA_DIR: join(cwd, 'data'),
    HQL_BACKUP_HEARTBEAT_URL: `${service.url}/${TOKEN}`,
    LIFEBOAT_LOG_FORMAT: 'json',
  };
  try {
    const ok = await runCli(['backup', '--db', db], { cwd, env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(service.requests.length, 1);
    assert.equal(service.requests[0]?.url, `/${TOKEN}`);
    service.answer(404);
    const failing = await runCli(['backup', '--db', db], { cwd, env });
    assert.equal(failing.code, 0, failing.stderr);
    assert.equal(service.requests.length, 2);
    assert.match(failing.stderr, /heartbeat to http:\/\/127\.0\.0\.1:\d+ failed: HTTP 404/);
    assert.ok(!`${ok.stderr}${failing.stderr}${failing.stdout}`.includes(TOKEN), 'the token is never printed');
  } finally {
    await service.close();
  }
});
