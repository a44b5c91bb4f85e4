// Lifeboat.restore(): replacing the database of a running instance with a backup.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import { Lifeboat, loadConfig, type RestoreReport } from '../../src/index.js';
import { createLogger } from '../../src/log.js';
import Database from '../../src/sqlite/driver.js';
import { countItems, createItemsDb } from '../support/db.js';
import { FakeClock } from '../support/fake-clock.js';
import { getTestS3, s3Env } from '../support/s3.js';
import { tempDir } from '../support/tmp.js';

const isCode = (code: string) => (err: unknown) => err instanceof LifeboatError && err.code === code;
const clock = () => new FakeClock('2026-11-24T10:00:00Z');

/** An embedded Lifeboat in a fresh folder, no schedule, with a `notes` table holding one row. */
async function openWithNote(body: string): Promise<{ cwd: string; time: FakeClock; lb: Lifeboat }> {
  const cwd = tempDir();
  const time = clock();
  const lb = await Lifeboat.open({ cwd, env: {}, schedule: false, backupOnStart: 'never', clock: time });
  lb.db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
  lb.db.prepare('INSERT INTO notes (body) VALUES (?)').run(body);
  return { cwd, time, lb };
}

function rows(lb: Lifeboat): number {
  return (lb.db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n;
}

test('embedded: restore(file:) swaps in the backup, keeps the old database, and hands out a new handle', async () => {
  const { time, lb } = await openWithNote('kept by the backup');
  try {
    const backup = await lb.backup();
    const before = lb.db;
    before.prepare('INSERT INTO notes (body) VALUES (?)').run('written after the backup');
    assert.equal(rows(lb), 2);

    const report: RestoreReport = await lb.restore(`file:${backup.path}`);
    assert.equal(report.applied, true);
    assert.equal(rows(lb), 1, 'the database is the backup');
    assert.notEqual(lb.db, before);
    assert.throws(() => before.prepare('SELECT 1'), /not open/, 'the handle taken before is closed');
    assert.equal(lb.db.pragma('journal_mode', { simple: true }), 'wal');
    // The previous database (with the row written after the backup) is kept aside.
    const aside = report.movedAside.find((p) => !/-(wal|shm|journal)$/.test(p));
    assert.ok(aside && existsSync(aside), `moved aside: ${report.movedAside.join(', ')}`);
    const old = new Database(aside, { readonly: true });
    try {
      assert.equal((old.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n, 2);
    } finally {
      old.close();
    }
    // Backups keep working on the restored database.
    lb.db.prepare('INSERT INTO notes (body) VALUES (?)').run('after the restore');
    time.advanceTo(new Date('2026-11-24T10:00:05Z'));
    const again = await lb.backup();
    const copy = new Database(again.path, { readonly: true });
    try {
      assert.equal((copy.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n, 2);
    } finally {
      copy.close();
    }
  } finally {
    await lb.close();
  }
});

test('a backup that fails validation changes nothing, and the handle still works', async () => {
  const { cwd, lb } = await openWithNote('precious');
  try {
    const bad = join(cwd, 'not-a-database.sqlite');
    writeFileSync(bad, 'SQLite format 3\u0000'.padEnd(8192, 'x'));
    await assert.rejects(lb.restore(`file:${bad}`), (err: unknown) => err instanceof LifeboatError);
    assert.equal(rows(lb), 1);
    assert.deepEqual(
      readdirSync(join(cwd, 'data', 'state_machine', 'db')).filter(
        (n) => n.includes('before-restore') || n.startsWith('.lifeboat-tmp'),
      ),
      [],
      'nothing moved aside, no temp file left',
    );
    await assert.rejects(
      lb.restore('file:relative/path.sqlite'),
      (err: unknown) => err instanceof Error && /absolute/.test(err.message),
    );
    await assert.rejects(
      lb.restore('ftp:somewhere'),
      (err: unknown) => err instanceof Error && /s3:|file:/.test(err.message),
    );
    // A timeline goes with pitr:latest and pitr:time: only, refused before anything is fetched.
    await assert.rejects(lb.restore('s3:latest', { timeline: 1 }), /timeline 1: it is not a pitr: source/);
    await assert.rejects(lb.restore('pitr:txid:4', { timeline: 1 }), /a txid names one transaction/);
    await assert.rejects(lb.restore('pitr:latest', { timeline: 0 }), /timeline 0 is not a whole number from 1/);
    // The source may name its timeline itself, as the marker writes it; not a second one beside it.
    await assert.rejects(
      lb.restore('pitr:latest on timeline 1', { timeline: 2 }),
      /timeline 2: it names timeline 1 already/,
    );
    assert.equal(rows(lb), 1);
  } finally {
    await lb.close();
  }
  await assert.rejects(lb.restore('s3:latest'), isCode('CLOSED'));
});

const sidecarDatabaseAnother =
  'sidecar: a database another process holds open in WAL mode is refused (DB_IN_USE) and left as it is';
test(sidecarDatabaseAnother, async () => {
  const cwd = tempDir();
  const db = join(cwd, 'app.db');
  createItemsDb(db, 20);
  const backup = join(cwd, 'backup.sqlite');
  copyFileSync(db, backup);
  const app = new Database(db);
  app.pragma('journal_mode = WAL');
  app.prepare("INSERT INTO items (name) VALUES ('the app writes')").run();
  const lb = await Lifeboat.open({ cwd, env: {}, dbPath: db, schedule: false, backupOnStart: 'never', clock: clock() });
  try {
    await assert.rejects(lb.restore(`file:${backup}`), isCode('DB_IN_USE'));
    assert.equal((app.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n, 21);
    app.close();
    // With the application stopped, the same call goes through.
    const report = await lb.restore(`file:${backup}`);
    assert.equal(report.applied, true);
    assert.equal(countItems(db), 20);
  } finally {
    app.close();
    await lb.close();
  }
});

test('s3:latest restores the newest pushed backup, decrypted with the key set', async () => {
  const place = await (await getTestS3()).place();
  const cwd = tempDir();
  const env = { ...s3Env(place), ENC_KEYS: 'k1/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=', ENC_KEY_ACTIVE: 'k1' };
  const lb = await Lifeboat.open({ cwd, env, schedule: false, backupOnStart: 'never', clock: clock() });
  try {
    lb.db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    lb.db.prepare('INSERT INTO notes (body) VALUES (?)').run('in the bucket');
    const backup = await lb.backup();
    assert.equal(backup.remote?.object, backup.name);
    lb.db.prepare('DELETE FROM notes').run();
    const report = await lb.restore('s3:latest');
    assert.equal(report.origin, backup.name);
    assert.equal(rows(lb), 1);
  } finally {
    await lb.close();
  }
});

test('configuration warnings are logged once at start-up; loadConfig is part of the public API', async () => {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'config.toml'), '[cluster]\nbackup_keep_days = 7\nno_such_key = 1\n');
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const lb = await Lifeboat.open({
    cwd,
    env: {},
    schedule: false,
    backupOnStart: 'never',
    logger: createLogger({ format: 'json', stream: out }),
  });
  await lb.close();
  const warnings = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: string; msg: string })
    .filter((r) => r.level === 'warn');
  assert.equal(warnings.filter((w) => w.msg.includes('no_such_key')).length, 1, text);
  assert.equal(loadConfig({ cwd, env: {} }).backupKeepDays, 7);
});

test('a restore waits for the backup in progress, which still sees the database before the restore', async () => {
  const { time, lb } = await openWithNote('one');
  try {
    const first = await lb.backup();
    lb.db.prepare('INSERT INTO notes (body) VALUES (?)').run('two');
    time.advanceTo(new Date('2026-11-24T10:00:05Z'));
    // Both requested at once: the backup was asked first, so it runs first, on two rows.
    const [second, restored] = await Promise.all([lb.backup(), lb.restore(`file:${first.path}`)]);
    assert.equal(countItemsIn(second.path), 2);
    assert.equal(restored.applied, true);
    assert.equal(rows(lb), 1);
  } finally {
    await lb.close();
  }
});

function countItemsIn(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const lostDatabase =
  'a lost database over local backups: start-up refuses (DB_MISSING); ' +
  'HQL_BACKUP_RESTORE_IF_MISSING restores the newest';
test(lostDatabase, async () => {
  const cwd = tempDir();
  const backups = join(cwd, 'data', 'state_machine', 'backups');
  const dbFile = join(cwd, 'data', 'state_machine', 'db', 'hiqlite.db');
  const open = (env: NodeJS.ProcessEnv) => Lifeboat.open({ cwd, env, schedule: false, backupOnStart: 'never' });
  const base = { HQL_DATA_DIR: join(cwd, 'data') } as NodeJS.ProcessEnv;
  // The first start: nothing to lose, an empty database.
  await (await open(base)).close();
  assert.ok(existsSync(dbFile));
  // Two backups, then the disk with the database is lost.
  const mkBackup = (name: string, n: number) => {
    createItemsDb(join(backups, name), n);
    new Database(join(backups, name)).pragma('journal_mode = DELETE');
  };
  mkBackup('backup_node_1_1790000000.sqlite', 2);
  mkBackup('backup_node_1_1790086400.sqlite', 6);
  for (const f of readdirSync(join(cwd, 'data', 'state_machine', 'db'))) {
    if (f.startsWith('hiqlite.db')) rmSync(join(cwd, 'data', 'state_machine', 'db', f));
  }
  await assert.rejects(open(base), (err: unknown) => {
    assert.ok(isCode('DB_MISSING')(err), String(err));
    const e = err as LifeboatError;
    assert.match(e.message, /the newest is backup_node_1_1790086400\.sqlite/);
    assert.match(e.hint ?? '', /HQL_BACKUP_RESTORE_IF_MISSING=local:latest/);
    return true;
  });
  assert.equal(existsSync(dbFile), false, 'no empty database was created over the backups');

  const withFallback = { ...base, HQL_BACKUP_RESTORE_IF_MISSING: 'local:latest' };
  const restored = await open(withFallback);
  assert.equal(countItems(dbFile), 6, 'the newest backup was restored');
  restored.db.prepare('INSERT INTO items (name) VALUES (?)').run('after the restore');
  await restored.close();
  const again = await open(withFallback);
  assert.equal(countItems(dbFile), 7, 'the database exists now: nothing is restored over it');
  await again.close();
});

test('HQL_BACKUP_RESTORE_IF_MISSING with no backup at all starts with a new, empty database', async () => {
  const cwd = tempDir();
  const lb = await Lifeboat.open({
    cwd,
    env: { HQL_DATA_DIR: join(cwd, 'data'), HQL_BACKUP_RESTORE_IF_MISSING: 'local:latest' },
    schedule: false,
    backupOnStart: 'never',
  });
  assert.deepEqual(lb.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all(), []);
  await lb.close();
});
