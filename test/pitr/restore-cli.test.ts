// `lifeboat restore --pitr …`, `lifeboat verify pitr:…` and HQL_BACKUP_RESTORE=pitr:… against the
// real S3 server, through the real CLI and Lifeboat (at start-up and restore()): the existing restore path (validation,
// crash-safe swap, marker) with a continuous-backup point as its source.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { S3Config } from '../../src/config/types.js';
import { Lifeboat } from '../../src/lifeboat.js';
import { runCli } from '../support/cli.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { openConditionalStore } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { DB_ID, GEN_ID, KEY_A } from './fixtures.js';
import { itemsOf, type ShippedDatabase, shipRealDatabase } from './sqlite-chain.js';

const RESTORE_CHILD = fileURLToPath(new URL('../support/restore-child.ts', import.meta.url));

let s3: TestS3;
let env: Record<string, string | undefined>;
let shipped: ShippedDatabase;
let config: S3Config;
before(async () => {
  s3 = await getTestS3();
  config = await s3.place();
  shipped = await shipRealDatabase(openConditionalStore(config), tempDir(), KEY_A, { dbId: DB_ID, genId: GEN_ID });
  env = { ...s3Env(config), ENC_KEYS: `${KEY_A.id}/${KEY_A.key.toString('base64')}`, ENC_KEY_ACTIVE: KEY_A.id };
});

function place(): { cwd: string; env: Record<string, string | undefined>; dbFile: string } {
  const cwd = tempDir();
  return {
    cwd,
    env: { ...env, HQL_DATA_DIR: join(cwd, 'data') },
    dbFile: join(cwd, 'data/state_machine/db/hiqlite.db'),
  };
}

test('restore --pitr txid:N puts that point in place, says what it restored, and applies it once', async () => {
  const { cwd, env, dbFile } = place();
  const txid = shipped.baseTxid + 5;
  const restored = await runCli(['restore', '--pitr', `txid:${txid}`], { cwd, env });
  assert.equal(restored.code, 0, restored.stderr);
  // Progress off a terminal: logged at each 10% step of the stored bytes (the base, then each segment applied).
  assert.match(restored.stderr, /"stage":"restore","bytes":(\d+),"total":\1,"percent":100/);
  assert.match(restored.stdout, new RegExp(`restored pitr:${DB_ID}/${GEN_ID}/${txid}`));
  assert.match(restored.stdout, new RegExp(`point\\s+txid ${txid}, observed at `));
  assert.match(restored.stdout, new RegExp(`newest\\s+txid ${shipped.lastTxid} `));
  assert.equal(itemsOf(dbFile), shipped.rows.get(txid));
  const again = await runCli(['restore', '--pitr', `txid:${txid}`], { cwd, env });
  assert.equal(again.code, 1);
  assert.match(again.stdout, /not applied: .* was restored before/);

  const t = new Date(shipped.times.get(shipped.baseTxid + 3)! + 400).toISOString();
  const atTime = await runCli(['restore', '--pitr', `time:${t}`, '--db-id', DB_ID], { cwd, env });
  assert.equal(atTime.code, 0, atTime.stderr);
  assert.equal(itemsOf(dbFile), shipped.rows.get(shipped.baseTxid + 3));
  assert.match(atTime.stdout, /previous database kept at .*before-restore-/);

  const drill = await runCli(['verify', 'pitr:latest'], { cwd, env });
  assert.equal(drill.code, 0, drill.stderr);
  assert.match(drill.stdout, /integrity\s+ok/);
});

test('restore --pitr refuses what cannot be restored, and bad forms as usage errors; nothing changes', async () => {
  const { cwd, env, dbFile } = place();
  const far = await runCli(['restore', '--pitr', 'txid:999999'], { cwd, env });
  assert.equal(far.code, 1);
  assert.match(far.stderr, /txid 999999 is after the newest shipped transaction/);
  assert.match(far.stderr, /Restorable: txid 100 /);
  for (const args of [
    ['--pitr', 'yesterday'],
    ['--pitr', 'time:2026-01-01 12:00'],
    ['s3:latest', '--pitr', 'latest'],
    ['--pitr', 'latest', '--db-id', 'not-an-id'],
    ['--db-id', DB_ID],
  ]) {
    const bad = await runCli(['restore', ...args], { cwd, env });
    assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
  }
  assert.ok(!existsSync(dbFile), 'no database was made');
});

test('a bucket behind what this host shipped: latest, a time refused; a txid, --accept-older restore', async () => {
  const { cwd, env, dbFile } = place();
  // This host's capture recorded that it shipped the generation 7 transactions further than the bucket holds.
  const workDir = `${dbFile}.lifeboat-pitr`;
  mkdirSync(workDir, { recursive: true });
  const chain = {
    dbId: DB_ID,
    genId: GEN_ID,
    seq: 999,
    txid: shipped.lastTxid + 7,
    digest: 'c'.repeat(64),
    rolling: 'd'.repeat(32),
    pageSize: 4096,
    observedMs: shipped.times.get(shipped.lastTxid)! + 5000,
    generation: { startedMs: 0, baseBytes: 0, segmentBytes: 0, baseTxid: shipped.baseTxid },
  };
  writeFileSync(join(workDir, 'state.json'), JSON.stringify({ writerId: 'e'.repeat(32), chain }));
  const behind = new RegExp(`holds generation ${GEN_ID} up to txid ${shipped.lastTxid}, but this host's capture`);
  const latest = await runCli(['restore', '--pitr', 'latest'], { cwd, env });
  assert.equal(latest.code, 1);
  assert.match(latest.stderr, behind);
  assert.match(latest.stderr, /--accept-older/);
  const t = new Date(chain.observedMs).toISOString();
  const atTime = await runCli(['restore', '--pitr', `time:${t}`], { cwd, env });
  assert.equal(atTime.code, 1);
  assert.match(atTime.stderr, behind);
  assert.ok(!existsSync(dbFile), 'nothing was restored');

  // The drill refuses as the restore does, and drills what the bucket holds when told to.
  const drill = await runCli(['verify', 'pitr:latest'], { cwd, env });
  assert.equal(drill.code, 1);
  assert.match(drill.stderr, behind);
  const drillOlder = await runCli(['pitr', 'verify', 'latest', '--accept-older', '--json'], { cwd, env });
  assert.equal(drillOlder.code, 0, drillOlder.stderr);
  assert.equal(JSON.parse(drillOlder.stdout).ok, true);
  const notPitr = await runCli(['verify', 's3:latest', '--accept-older'], { cwd, env });
  assert.equal(notPitr.code, 2, notPitr.stderr);
  assert.match(notPitr.stderr, /--accept-older goes with a pitr: source/);

  const accepted = await runCli(['restore', '--pitr', 'latest', '--accept-older'], { cwd, env });
  assert.equal(accepted.code, 0, accepted.stderr);
  assert.equal(itemsOf(dbFile), shipped.rows.get(shipped.lastTxid));
  const exact = await runCli(['restore', '--pitr', `txid:${shipped.lastTxid - 1}`], { cwd, env });
  assert.equal(exact.code, 0, exact.stderr);
  assert.equal(itemsOf(dbFile), shipped.rows.get(shipped.lastTxid - 1));
});

test('HQL_BACKUP_RESTORE=pitr:latest restores at start-up once; later writes survive the next start', async () => {
  const { cwd, env } = place();
  const startEnv = { ...env, HQL_BACKUP_RESTORE: 'pitr:latest' };
  const first = await Lifeboat.open({ cwd, env: startEnv, schedule: false, backupOnStart: 'never' });
  try {
    const rows = first.db.prepare('SELECT id, name, n, length(pad) AS pad FROM items ORDER BY id').all();
    assert.equal(JSON.stringify(rows), shipped.rows.get(shipped.lastTxid));
    first.db.prepare("INSERT INTO items (name, n) VALUES ('after the restore', 0)").run();
  } finally {
    await first.close();
  }
  const second = await Lifeboat.open({ cwd, env: startEnv, schedule: false, backupOnStart: 'never' });
  try {
    const n = second.db.prepare("SELECT count(*) AS n FROM items WHERE name = 'after the restore'").get();
    assert.deepEqual(n, { n: 1 }, 'not restored again');
  } finally {
    await second.close();
  }
});

test('a start-up pitr restore killed while it applies leaves the database alone and no file behind', async () => {
  const { dbFile } = place();
  const dbDir = dirname(dbFile);
  mkdirSync(dbDir, { recursive: true });
  const pitr = JSON.stringify({ s3: config, key: { id: KEY_A.id, key: KEY_A.key.toString('base64') } });
  const run = (crashAt?: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', RESTORE_CHILD, dbFile, 'pitr:latest', pitr], {
      env: { ...process.env, ...(crashAt ? { LIFEBOAT_TEST_CRASH_AT: crashAt } : {}) },
      encoding: 'utf8',
    });
  const killed = run('during-materialise');
  assert.equal(killed.signal, 'SIGKILL', `the restore did not reach its apply: ${killed.status} ${killed.stderr}`);
  assert.ok(!existsSync(dbFile), 'nothing at the database path');
  const left = readdirSync(dbDir);
  assert.ok(left.length > 0, 'the killed restore left its files (the point of the test)');
  // The next start removes them, including the point-in-time restore's own temp file beside the restore's.
  const next = run();
  assert.equal(next.status, 0, next.stderr);
  assert.equal(itemsOf(dbFile), shipped.rows.get(shipped.lastTxid));
  const temps = readdirSync(dbDir).filter((f) => f.startsWith('.lifeboat-tmp-'));
  assert.deepEqual(temps, [], `left before: ${left.join(', ')}`);
});

test("the library's restore('pitr:txid:N') puts that point over the open database, with progress", async () => {
  const { cwd, env } = place();
  const lifeboat = await Lifeboat.open({ cwd, env, schedule: false, backupOnStart: 'never' });
  try {
    lifeboat.db.exec('CREATE TABLE mine (x)');
    const txid = shipped.baseTxid + 7;
    const seen: Array<[number, number | undefined]> = [];
    const report = await lifeboat.restore(`pitr:txid:${txid}`, { onProgress: (b, t) => seen.push([b, t]) });
    assert.equal(report.origin, `pitr:${DB_ID}/${GEN_ID}/${txid}`);
    const rows = lifeboat.db.prepare('SELECT id, name, n, length(pad) AS pad FROM items ORDER BY id').all();
    assert.equal(JSON.stringify(rows), shipped.rows.get(txid));
    assert.equal(lifeboat.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'mine'").pluck().get(), 0);
    assert.ok(report.movedAside.length > 0, 'the database it replaced was kept');
    const [bytes, total] = seen.at(-1)!;
    assert.ok(seen.length > 1 && total !== undefined && bytes === total, JSON.stringify(seen.slice(-3)));
  } finally {
    await lifeboat.close();
  }
});
