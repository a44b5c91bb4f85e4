import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import type { DoctorJson } from '../../src/cli/commands/doctor.js';
import type { S3Config } from '../../src/config/types.js';
import { EXIT_CHECK_FAILED } from '../../src/errors.js';
import { Capture } from '../../src/pitr/capture/capture.js';
import { clockFinding } from '../../src/pitr/doctor.js';
import { newDbId } from '../../src/pitr/names.js';
import Database from '../../src/sqlite/driver.js';
import { runCli } from '../support/cli.js';
import { getTestS3, localTest, s3Env, type TestS3 } from '../support/s3.js';
import { openConditionalStore, withProxy } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { KEY_A } from './fixtures.js';

/**
 * `lifeboat doctor --pitr` against the real S3 server: every requirement of continuous backup
 * checked as capture checks it at its start, and who ships the database now (the head's lease).
 */

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const KEYS = { ENC_KEYS: `${KEY_A.id}/${KEY_A.key.toString('base64')}`, ENC_KEY_ACTIVE: KEY_A.id };

function walDatabase(): string {
  const path = join(tempDir(), 'app.sqlite');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (v)');
  db.close();
  return path;
}

async function doctor(config: S3Config, db: string, ...more: string[]) {
  const r = await runCli(['doctor', '--pitr', '--json', '--db', db, ...more], {
    cwd: tempDir(),
    env: { ...s3Env(config), ...KEYS, LIFEBOAT_PITR: 'true' },
  });
  assert.ok(!(r.stdout + r.stderr).includes(config.secret), 'the S3 secret was printed');
  assert.notEqual(r.stdout, '', r.stderr);
  const out = JSON.parse(r.stdout) as DoctorJson;
  return { code: r.code, out, check: (name: string) => out.checks.find((c) => c.check === name)! };
}

localTest('doctor --pitr: the requirements pass, and it names the Lifeboat that holds the lease', async () => {
  const config = await s3.place();
  const db = walDatabase();
  const dbId = newDbId();
  const idle = await doctor(config, db, '--db-id', dbId);
  assert.equal(idle.code, 0, JSON.stringify(idle.out));
  assert.deepEqual(
    idle.out.checks.map((c) => [c.check, c.status]),
    [
      ['enabled', 'ok'],
      ['sqlite', 'ok'],
      ['application sqlite', 'warn'], // --db: a database another process writes
      ['database', 'ok'],
      ['keys', 'ok'],
      ['conditional writes', 'ok'],
      ['clock', 'ok'],
      ['writer', 'ok'],
    ],
  );
  assert.match(idle.check('clock').detail, /this machine's clock agrees with the S3 server's/);
  assert.match(idle.check('writer').detail, /no Lifeboat has shipped database/);
  assert.deepEqual(await openConditionalStore(config).list('lifeboat-pitr/.probe/'), [], 'the probe cleaned up');

  // Another Lifeboat (its own writer id) ships the database and holds the lease.
  const capture = await Capture.start({
    dbPath: db,
    dbId,
    store: openConditionalStore(config),
    key: KEY_A,
    workDir: join(tempDir(), 'elsewhere'),
  });
  try {
    const held = await doctor(config, db, '--db-id', dbId);
    assert.equal(held.code, 0, 'a warning, not a failure');
    assert.equal(held.check('writer').status, 'warn');
    assert.match(held.check('writer').detail, new RegExp(`another Lifeboat \\(${hostname()}, pid ${process.pid}\\)`));
    assert.match(held.check('writer').hint ?? '', /stands by \(PITR_LEASE_HELD\)/);
  } finally {
    await capture.close();
  }
  const released = await doctor(config, db, '--db-id', dbId);
  assert.equal(released.check('writer').status, 'ok');
  assert.match(released.check('writer').detail, /lease ran out .*a start here takes over/);

  // This host's own writer (its id in the state beside the database) ships it: a restart here goes on with it.
  const own = await Capture.start({ dbPath: db, dbId, store: openConditionalStore(config), key: KEY_A });
  try {
    const state = join(`${db}.lifeboat-pitr`, 'state.json');
    for (let i = 0; i < 500 && !readFileSync(state, 'utf8').includes('"chain"'); i++) await setTimeout(10);
    const mine = await doctor(config, db, '--db-id', dbId);
    assert.equal(mine.check('writer').status, 'ok');
    assert.match(
      mine.check('writer').detail,
      new RegExp(`a restart here continues it \\(in generation ${own.status().genId} after txid \\d+`),
    );
  } finally {
    await own.close();
  }
});

localTest('doctor --pitr fails a store that ignores conditional writes and a database not in WAL mode', async () => {
  const { proxy, config } = await withProxy();
  try {
    proxy.set({ kind: 'stripConditions', secretKey: config.secret });
    const wal = await doctor(config, walDatabase());
    assert.equal(wal.code, EXIT_CHECK_FAILED);
    assert.equal(wal.out.ok, false);
    assert.equal(wal.check('conditional writes').status, 'fail');
    assert.match(wal.check('conditional writes').detail, /step 2/);
    assert.equal(wal.check('writer'), undefined, 'who writes is not asked of a store continuous backup refuses');
  } finally {
    await proxy.close();
  }
  const rollback = join(tempDir(), 'rollback.sqlite');
  const db = new Database(rollback);
  db.exec('CREATE TABLE t (v)');
  db.close();
  const r = await doctor(await s3.place(), rollback);
  assert.equal(r.code, EXIT_CHECK_FAILED);
  assert.equal(r.check('database').status, 'fail');
  assert.match(r.check('database').hint ?? '', /journal_mode = WAL/);
});

localTest(
  'doctor without --pitr: the database, the keys, and an S3 store that answers — or refuses the credentials',
  async () => {
    const config = await s3.place();
    const run = (c: S3Config) =>
      runCli(['doctor', '--json', '--db', walDatabase()], { cwd: tempDir(), env: { ...s3Env(c), ...KEYS } });
    const good = await run(config);
    assert.equal(good.code, 0, good.stderr);
    assert.deepEqual(
      (JSON.parse(good.stdout) as DoctorJson).checks.map((c) => [c.check, c.status]),
      [
        ['database', 'ok'],
        ['keys', 'ok'],
        ['s3', 'ok'],
      ],
    );
    const wrong = { ...config, secret: `${config.secret}x` };
    const refused = await run(wrong);
    assert.equal(refused.code, EXIT_CHECK_FAILED);
    const s3Check = (JSON.parse(refused.stdout) as DoctorJson).checks.find((c) => c.check === 's3')!;
    assert.equal(s3Check.status, 'fail');
    assert.ok(!(refused.stdout + refused.stderr).includes(wrong.secret), 'the S3 secret was printed');
  },
);

test('the clock finding: within 10 min of the S3 server’s is fine; beyond, retention waits and it says so', () => {
  const server = Date.UTC(2026, 11, 7, 12);
  assert.equal(clockFinding(server, server - 1_000).status, 'ok');
  assert.match(clockFinding(server, server - 90_000).detail, /is 90 s behind the S3 server's/);
  assert.equal(clockFinding(server, server + 10 * 60_000).status, 'ok');
  const ahead = clockFinding(server, server + 8 * 86_400_000);
  assert.equal(ahead.status, 'warn');
  assert.match(ahead.detail, /is 11520 min ahead of the S3 server's: continuous backup's retention deletes nothing/);
  assert.equal(ahead.hint, 'fix the clock (NTP)');
  assert.equal(clockFinding(undefined, server).status, 'warn');
});
