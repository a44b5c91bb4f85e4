// `lifeboat backup` and `lifeboat serve` while S3 fails: the local backup is always taken and
// kept, a failed push exits with 3 within the bound (HQL_S3_TIMEOUT), an interrupted push
// leaves nothing behind, a killed one is cleaned up by a later run once it is a day old.
// The real CLI in a child process, against the real radosgw, the fault proxy, and a server
// that never answers.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { runBackup } from '../../src/backup/job.js';
import { compose } from '../../src/compose.js';
import { loadConfig } from '../../src/config/load.js';
import type { S3Config } from '../../src/config/types.js';
import { EXIT_PUSH_FAILED } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { runCli } from '../support/cli.js';
import { createItemsDb } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { backupFiles } from '../support/folder.js';
import { getTestS3, localTest, s3Env, type TestS3 } from '../support/s3.js';
import { danglingUploads, names, withProxy } from '../support/s3-checks.js';
import { startSilentServer } from '../support/silent-server.js';
import { tempDir } from '../support/tmp.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const MiB = 1024 * 1024;
const KEYS = { ENC_KEYS: 'k1/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=', ENC_KEY_ACTIVE: 'k1' };
const ENTRY = fileURLToPath(new URL('../../src/cli/entry.ts', import.meta.url));

/** A database, its data folder, and the environment that points the CLI at `config`. */
function setup(config: S3Config, rows: number, extra: Record<string, string> = {}) {
  const dir = tempDir();
  const db = join(dir, 'app.db');
  createItemsDb(db, rows);
  const backups = join(dir, 'data', 'state_machine', 'backups');
  const env = { HQL_DATA_DIR: join(dir, 'data'), ...s3Env(config), ...KEYS, ...extra };
  const files = () => backupFiles(backups);
  return { dir, db, backups, env, files };
}

/** Polls until an upload in the bucket has a part on the server; deadline 60 s. */
async function partUp(config: S3Config): Promise<void> {
  const client = s3.client();
  const deadline = performance.now() + 60_000;
  for (;;) {
    const u = (await client.send(new ListMultipartUploadsCommand({ Bucket: config.bucket }))).Uploads?.[0];
    if (u?.Key && u.UploadId) {
      const listed = await client.send(
        new ListPartsCommand({ Bucket: config.bucket, Key: u.Key, UploadId: u.UploadId }),
      );
      if ((listed.Parts?.length ?? 0) > 0) return;
    }
    if (performance.now() > deadline) throw new Error('no part of an upload on the server within 60 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function spawnCli(args: string[], cwd: string, env: Record<string, string | undefined>): ChildProcess {
  const clean: Record<string, string> = { PATH: process.env.PATH ?? '' };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  return spawn(process.execPath, ['--import', import.meta.resolve('tsx'), ENTRY, ...args], {
    cwd,
    env: clean,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout?.resume();
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
}

const stalledExit3 =
  'backup against an endpoint that never answers: exit 3 within HQL_S3_TIMEOUT, the local backup kept and named';
test(stalledExit3, async () => {
  const server = await startSilentServer();
  try {
    const config = { ...(await s3.place()), url: server.url };
    const { dir, db, env, files, backups } = setup(config, 500, { HQL_S3_TIMEOUT: '3' });
    const t0 = performance.now();
    const res = await runCli(['backup', '--db', db], { cwd: dir, env });
    const ended = performance.now();
    assert.equal(res.code, EXIT_PUSH_FAILED, res.stderr);
    // Each request waited for its bound (3 s) and not much longer. A database backed up for the first
    // time asks the store which database it is (no answer: 3 s, then it goes on), snapshots, and asks
    // again when it pushes (3 s): two bounds and a snapshot, timed from the first connection to the
    // end of the process — the time Node takes to start on a loaded machine is outside it.
    const first = server.firstConnectionAt;
    assert.ok(first !== undefined, 'the push reached the endpoint');
    const waited = ended - first;
    assert.ok(
      waited > 2 * 3000 && waited < 2 * 3000 + 4000,
      `gave up ${waited.toFixed(0)} ms after the first request (${server.connections} connections)`,
    );
    assert.ok(ended - t0 < 60_000, 'the command ended');
    assert.match(res.stderr, /saved locally at .* but the push to the remote store failed: .*timed out/);
    assert.match(res.stderr, /HQL_S3_TIMEOUT/);
    const name = /backup\s+(backup_node_1_\d+\.sqlite)/.exec(res.stdout)?.[1];
    assert.ok(name, res.stdout);
    assert.match(res.stdout, /not pushed .* the local backup is kept/);
    assert.deepEqual(files(), [name]);
    assert.ok(existsSync(join(backups, name)));
  } finally {
    await server.close();
  }
});

test('backup with a missing bucket: exit 3, the local backup kept, the message names HQL_S3_BUCKET', async () => {
  const place = await s3.place();
  const config = { ...place, bucket: `${place.bucket}-missing` };
  const { dir, db, env, files } = setup(config, 100);
  const res = await runCli(['backup', '--db', db, '--json'], { cwd: dir, env });
  assert.equal(res.code, 3, res.stderr);
  assert.match(res.stderr, new RegExp(`bucket "${config.bucket}" does not exist`));
  assert.match(res.stderr, /hint: .*HQL_S3_BUCKET/);
  const report = JSON.parse(res.stdout) as { name: string; pushFailure: { code: string } };
  assert.equal(report.pushFailure.code, 'S3_NO_BUCKET');
  assert.deepEqual(files(), [report.name]);
});

localTest('Ctrl-C during the push: the multipart upload is aborted and no temp file is left', async () => {
  const { proxy, config, direct } = await withProxy();
  try {
    // ~21 MB: a part of 16 MiB, which hangs halfway (so the push is still running), and a smaller one.
    const { dir, db, env, files } = setup(config, 90_000, { HQL_S3_TIMEOUT: '120' });
    proxy.set({ kind: 'hangAfter', afterBytes: 8 * MiB });
    const child = spawnCli(['backup', '--db', db], dir, env);
    const exited = exitOf(child);
    await partUp(direct);
    const t0 = performance.now();
    child.kill('SIGINT');
    const { code, stderr } = await exited;
    assert.ok(performance.now() - t0 < 10_000, 'it stopped at once, not after the bound');
    assert.match(stderr, /SIGINT: stopping the backup/);
    // Interrupted before the local commit: nothing (1); after it: the local backup is kept (3).
    assert.ok(code === 1 || code === 3, `exit ${code}: ${stderr}`);
    const left = files();
    assert.ok(!left.some((f) => f.startsWith('.lifeboat-tmp-')), `temp files left: ${left.join(', ')}`);
    assert.equal(left.length, code === 3 ? 1 : 0, left.join(', '));
    assert.equal(await danglingUploads(direct), 0, 'the multipart upload was aborted');
    assert.deepEqual(await names(direct), []);
  } finally {
    await proxy.close();
  }
});

localTest(
  'a push killed with SIGKILL leaves its upload; a later run removes it once it is a day old, not before',
  async () => {
    const { proxy, config, direct } = await withProxy();
    try {
      const { dir, db, env, files } = setup(config, 90_000, { HQL_S3_TIMEOUT: '120' });
      proxy.set({ kind: 'hangAfter', afterBytes: 8 * MiB });
      const child = spawnCli(['backup', '--db', db], dir, env);
      const exited = exitOf(child);
      await partUp(direct);
      child.kill('SIGKILL');
      assert.equal((await exited).signal, 'SIGKILL');
      assert.equal(await danglingUploads(direct), 1, 'a killed process cannot abort its upload');

      // The next runs, in process with an injected clock, straight to the server.
      const run = async (now: Date) => {
        const config = loadConfig({ env: { ...env, ...s3Env(direct) }, cwd: dir });
        const parts = await compose({ config, logger: silentLogger(), dbPath: db, clock: new FakeClock(now) });
        try {
          return await runBackup(parts.backupPlan());
        } finally {
          parts.close();
        }
      };
      // A minute on, so its name differs from the killed run's (which may have committed locally).
      const first = await run(new Date(Date.now() + 60_000));
      assert.ok(first.remote, 'pushed');
      assert.equal(await danglingUploads(direct), 1, 'an upload minutes old may still be running: kept');
      assert.ok(!files().some((f) => f.startsWith('.lifeboat-tmp-')), 'no temp file of the killed run is left');
      await run(new Date(Date.now() + 25 * 3600 * 1000));
      assert.equal(await danglingUploads(direct), 0, 'a day later it is a leftover: removed');
      assert.equal((await names(direct)).length, 2);
    } finally {
      await proxy.close();
    }
  },
);

test('serve keeps running while S3 never answers: backups are kept locally, /health says why', async () => {
  const server = await startSilentServer();
  try {
    const config = { ...(await s3.place()), url: server.url };
    const { dir, db, env, files } = setup(config, 100, { HQL_S3_TIMEOUT: '2', LIFEBOAT_LOG_FORMAT: 'json' });
    const child = spawnCli(['serve', '--db', db, '--listen', '127.0.0.1:0'], dir, env);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.stdout?.resume();
    let url: string | undefined;
    let health: { status: number; body: { status: string; reason: string } } | undefined;
    for await (const line of createInterface({ input: child.stderr! })) {
      if (!line.startsWith('{')) continue; // e.g. the AWS SDK's warning about the Node version
      const rec = JSON.parse(line) as { msg: string; url?: string };
      if (rec.url) url = rec.url;
      // The first backup's push failed: the process is still there, and says why.
      if (rec.msg.startsWith('first backup failed') && url) {
        const res = await fetch(`${url}/health`);
        health = { status: res.status, body: (await res.json()) as { status: string; reason: string } };
        child.kill('SIGTERM');
      }
    }
    assert.equal(await exited, 0);
    assert.equal(health?.status, 503);
    assert.equal(health?.body.status, 'degraded');
    assert.match(health?.body.reason ?? '', /remote store .* fails since .*S3_TIMEOUT/);
    assert.equal(files().length, 1, 'the first backup is kept locally');
  } finally {
    await server.close();
  }
});
