// The status server over real HTTP on 127.0.0.1, in front of a real Lifeboat (sidecar).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Lifeboat } from '../../src/index.js';
import { silentLogger } from '../../src/log.js';
import { startStatusServer } from '../../src/server/http.js';
import { runCli } from '../support/cli.js';
import { createItemsDb } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { sample } from '../support/metrics.js';
import { tempDir } from '../support/tmp.js';

const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));
const KEY = 'k1/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(url, init);
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

test('/health and /metrics follow the backups: ok, then failing with the reason, counted in the metrics', async () => {
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 100);
  const clock = new FakeClock('2026-11-24T10:00:00Z');
  const lb = await Lifeboat.open({
    cwd,
    env: { ENC_KEYS: KEY, ENC_KEY_ACTIVE: 'k1' },
    dbPath: db,
    backupOnStart: 'never',
    clock,
  });
  const server = await startStatusServer(lb, { host: '127.0.0.1', port: 0 }, silentLogger());
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    let health = await get(`${server.url}/health`);
    assert.equal(health.status, 200);
    assert.match(health.type, /^application\/json/);
    assert.equal(JSON.parse(health.text).status, 'ok');

    const report = await lb.backup();
    health = await get(`${server.url}/health`);
    assert.equal(health.status, 200);
    const body = JSON.parse(health.text) as {
      lastSuccess: { name: string; bytes: number };
      localBackups: number;
      nextBackupAt: string;
    };
    assert.equal(body.lastSuccess.name, report.name);
    assert.equal(body.localBackups, 1);
    assert.equal(body.nextBackupAt, lb.nextBackupAt()?.toISOString());
    let metrics = await get(`${server.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(metrics.text, 'lifeboat_backups_total', { db: 'app.db', result: 'success' }), 1);
    assert.equal(sample(metrics.text, 'lifeboat_backup_last_bytes'), report.bytes);

    // The database disappears: the next attempt fails, and the server says so.
    rmSync(db);
    clock.advanceTo(new Date('2026-11-24T10:00:05Z'));
    await assert.rejects(lb.backup());
    health = await get(`${server.url}/health`);
    assert.equal(health.status, 503);
    const failing = JSON.parse(health.text) as { status: string; reason: string };
    assert.equal(failing.status, 'failing');
    assert.match(failing.reason, /no database at .*app\.db/);
    metrics = await get(`${server.url}/metrics`);
    assert.equal(sample(metrics.text, 'lifeboat_backups_total', { result: 'failure' }), 1);
    assert.equal(sample(metrics.text, 'lifeboat_healthy'), 0);
    for (const r of [health, metrics])
      assert.ok(!r.text.includes('AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8'), 'no key material');

    assert.equal((await get(`${server.url}/`)).status, 404);
    assert.equal((await get(`${server.url}/health`, { method: 'POST' })).status, 405);
    assert.equal((await get(`${server.url}/health`, { method: 'HEAD' })).status, 503);
  } finally {
    await server.close();
    await lb.close();
  }
});

const serveListenServer =
  'serve --listen: the server comes up on the given address and stops with the process; a bad address is a usage error';
test(serveListenServer, async () => {
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 10);
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), ENTRY, 'serve', '--db', db, '--listen', '127.0.0.1:0'],
    {
      cwd,
      env: { PATH: process.env.PATH, HQL_DATA_DIR: join(cwd, 'data'), LIFEBOAT_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let url: string | undefined;
  let health: { status: number; text: string } | undefined;
  for await (const line of createInterface({ input: child.stderr })) {
    const rec = JSON.parse(line) as { msg: string; url?: string };
    if (rec.url) url = rec.url;
    // Once the first backup is done, ask the server, then stop.
    if (rec.msg === 'backup finished' && url) {
      health = await get(`${url}/health`);
      child.kill('SIGTERM');
    }
  }
  assert.equal(await exited, 0);
  assert.match(url ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(health?.status, 200);
  assert.equal((JSON.parse(health?.text ?? '{}') as { status?: string }).status, 'ok');
  await assert.rejects(fetch(`${url}/health`), 'the server stopped with the process');

  const bad = await runCli(['serve', '--db', db, '--listen', 'nope'], {
    cwd,
    env: { HQL_DATA_DIR: join(cwd, 'data') },
  });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--listen: "nope" is not a listen address/);
  const badEnv = await runCli(['serve', '--db', db], {
    cwd,
    env: { HQL_DATA_DIR: join(cwd, 'data'), LIFEBOAT_HTTP_LISTEN: '1.2.3.4:99999' },
  });
  assert.equal(badEnv.code, 2);
  assert.match(badEnv.stderr, /LIFEBOAT_HTTP_LISTEN: "1\.2\.3\.4:99999"/);
});
