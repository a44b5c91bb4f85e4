// The events an application listens to: `backup`, `error`, `restore`, `remote`. Real backups,
// restores and a real S3 server; the failures are real ones (a file that is not a database, a
// backup that does not exist, credentials the server refuses).
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import {
  type BackupReport,
  Lifeboat,
  type LifeboatOperation,
  RemotePushError,
  type RemoteStatus,
  type RestoreReport,
} from '../../src/index.js';
import type { LifeboatLogger } from '../../src/log.js';
import { countItems, createItemsDb } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const KEYS = { ENC_KEYS: 'k1/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=', ENC_KEY_ACTIVE: 'k1' };

/** A sidecar Lifeboat on a fresh database with `rows` items, no schedule, no start-up backup. */
async function sidecar(env: Record<string, string | undefined> = {}, logger?: LifeboatLogger) {
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 20);
  const clock = new FakeClock('2026-11-24T10:00:00Z');
  const lb = await Lifeboat.open({
    cwd,
    env,
    dbPath: db,
    schedule: false,
    backupOnStart: 'never',
    clock,
    ...(logger ? { logger } : {}),
  });
  return { cwd, db, clock, lb };
}

function errorsOf(lb: Lifeboat): Array<[Error, LifeboatOperation]> {
  const seen: Array<[Error, LifeboatOperation]> = [];
  lb.on('error', (err, operation) => seen.push([err, operation]));
  return seen;
}

test('a backup emits `backup` with its report (on demand and at start); Lifeboat is an EventEmitter', async () => {
  const { lb, clock, cwd, db } = await sidecar();
  try {
    assert.ok(lb instanceof EventEmitter);
    const reports: BackupReport[] = [];
    lb.on('backup', (report) => reports.push(report));
    const report = await lb.backup();
    assert.deepEqual(reports, [report], 'the same report the promise resolves with');
    assert.equal(countItems(report.path), 20);
    clock.advanceTo(new Date('2026-11-24T10:00:05Z'));
    const second = await lb.backup();
    assert.deepEqual(
      reports.map((r) => r.name),
      [report.name, second.name],
    );
  } finally {
    await lb.close();
  }
  // The start-up backup runs after open() returned: a listener added at once hears it.
  const started = await Lifeboat.open({ cwd, env: {}, dbPath: db, schedule: false, backupOnStart: 'always' });
  try {
    const [report] = (await once(started, 'backup')) as [BackupReport];
    assert.equal((await started.list()).local[0]?.name, report.name);
  } finally {
    await started.close();
  }
});

test('a failed backup emits `error` with the error and "backup"; unheard, it only rejects the caller', async () => {
  const logged: string[] = [];
  const logger: LifeboatLogger = { info: () => undefined, warn: () => undefined, error: (m) => logged.push(m) };
  const { lb, db } = await sidecar({}, logger);
  try {
    writeFileSync(db, Buffer.alloc(8192, 7)); // the database is overwritten with something that is not SQLite
    const rejected = await lb.backup().then(
      () => assert.fail('a backup of garbage must fail'),
      (err: unknown) => err,
    );
    assert.ok(rejected instanceof Error);
    // No listener yet: a plain EventEmitter would have thrown ERR_UNHANDLED_ERROR from inside the queue.
    assert.notEqual((rejected as NodeJS.ErrnoException).code, 'ERR_UNHANDLED_ERROR');
    assert.ok(!logged.some((m) => m.includes('listener')), logged.join('\n'));
    const seen = errorsOf(lb);
    const again = await lb.backup().then(
      () => assert.fail('still garbage'),
      (err: unknown) => err,
    );
    assert.deepEqual(seen, [[again, 'backup']]);
    assert.equal(lb.status().lastError, (again as Error).message);
  } finally {
    await lb.close();
  }
});

test('restore() emits `restore` with its report; a failed one emits `error` with "restore"', async () => {
  const { lb, clock } = await sidecar();
  try {
    const backup = await lb.backup();
    const restores: RestoreReport[] = [];
    lb.on('restore', (report) => restores.push(report));
    const seen = errorsOf(lb);
    clock.advanceTo(new Date('2026-11-24T10:01:00Z'));
    const report = await lb.restore(`file:${backup.path}`);
    assert.deepEqual(restores, [report]);
    assert.equal(report.applied, true);

    const missing = join(lb.local.dir, 'backup_node_1_1.sqlite');
    await assert.rejects(lb.restore(`file:${missing}`), (err: unknown) => err instanceof LifeboatError);
    assert.equal(restores.length, 1);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.[1], 'restore');
    assert.match(seen[0]![0].message, /backup_node_1_1\.sqlite/);
  } finally {
    await lb.close();
  }
});

test('a listener that throws is logged; the backup it heard of still succeeds, and the next one too', async () => {
  const errors: string[] = [];
  const logger: LifeboatLogger = { info: () => undefined, warn: () => undefined, error: (m) => errors.push(m) };
  const { lb, clock } = await sidecar({}, logger);
  try {
    lb.on('backup', () => {
      throw new Error('bug in the application');
    });
    const first = await lb.backup();
    assert.equal(countItems(first.path), 20);
    clock.advanceTo(new Date('2026-11-24T10:00:05Z'));
    await lb.backup();
    assert.deepEqual(errors, [
      "a listener of the 'backup' event threw: bug in the application",
      "a listener of the 'backup' event threw: bug in the application",
    ]);
  } finally {
    await lb.close();
  }
});

test('`remote` reports the store answering after start, and a push the store refuses (with `error`)', async () => {
  const config = await s3.place();
  const good = await sidecar({ ...s3Env(config), ...KEYS });
  try {
    const status = good.lb.remoteStatus()?.state === 'ok' ? good.lb.remoteStatus() : (await once(good.lb, 'remote'))[0];
    assert.equal((status as RemoteStatus).state, 'ok');
  } finally {
    await good.lb.close();
  }

  const refused = await sidecar({ ...s3Env({ ...config, secret: 'not-the-secret' }), ...KEYS });
  const { lb } = refused;
  try {
    const states: Array<RemoteStatus['state']> = [];
    lb.on('remote', (s) => states.push(s.state));
    const seen = errorsOf(lb);
    const err = await lb.backup().then(
      () => assert.fail('the push must be refused'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RemotePushError, String(err));
    assert.deepEqual(seen, [[err, 'backup']]);
    assert.equal(countItems(err.report.path), 20, 'the local backup is kept');
    // The start-up probe or the push found it failing first; either way the state changed once.
    assert.deepEqual(states, ['failing']);
    assert.equal(lb.remoteStatus()?.state, 'failing');
  } finally {
    await lb.close();
  }
});
