import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { ConfigError, LifeboatError } from '../../src/errors.js';
import { lockOwner } from '../../src/fs/lock.js';
import { Lifeboat } from '../../src/lifeboat.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { type RestorePlan, recoverThenRestore, restoreDatabase } from '../../src/restore/restore.js';
import { parseRestoreSource } from '../../src/restore/source.js';
import { readMarker } from '../../src/restore/swap.js';
import Database from '../../src/sqlite/driver.js';
import { countItems, createItemsDb, walBytes } from '../support/db.js';
import { tempDir } from '../support/tmp.js';

function setup() {
  const dir = tempDir();
  const dbDir = join(dir, 'state_machine', 'db');
  mkdirSync(dbDir, { recursive: true });
  const dbFile = join(dbDir, 'hiqlite.db');
  // The live database: 10 rows, with un-checkpointed data in its WAL.
  createItemsDb(dbFile, 10);
  const live = new Database(dbFile);
  live.pragma('wal_autocheckpoint = 0');
  live.prepare('INSERT INTO items (name) VALUES (?)').run('only-in-wal');
  // Keep the WAL: close without checkpointing is not possible in better-sqlite3, so copy the
  // files while a connection holds them open.
  const walBytes = readFileSync(`${dbFile}-wal`);
  const dbBytes = readFileSync(dbFile);
  live.close();
  writeFileSync(dbFile, dbBytes);
  writeFileSync(`${dbFile}-wal`, walBytes);
  const backup = join(dir, 'backup_node_1_1700000000.sqlite');
  createItemsDb(backup, 3);
  new Database(backup).pragma('journal_mode = DELETE');
  const options = (over: Partial<RestorePlan> = {}): RestorePlan => ({
    source: parseRestoreSource(`file:${backup}`),
    dbFile,
    skipValidation: false,
    expectTables: [],
    force: false,
    requestedBy: 'startup',
    logger: silentLogger(),
    now: () => new Date('2026-11-24T10:00:00Z'),
    ...over,
  });
  return { dir, dbDir, dbFile, backup, options };
}

/** The header's write and read versions: 2 in WAL mode, 1 in rollback-journal mode (read without SQLite). */
const journalModesOf = (file: string) => [...readFileSync(file).subarray(18, 20)];

const snapshotDir = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir).map((f) => [
      f,
      createHash('sha256')
        .update(readFileSync(join(dir, f)))
        .digest('hex'),
    ]),
  );

test('file: restore validates, swaps, keeps the old database (its WAL folded in) and writes a marker', async () => {
  const { dbDir, dbFile, backup, options } = setup();
  assert.equal(countItems(dbFile), 11, 'the old database with its WAL');
  const report = await restoreDatabase(options());
  assert.equal(report.applied, true);
  assert.equal(report.origin, backup);
  assert.deepEqual(
    report.tables.map((t) => t.name),
    ['items'],
  );
  assert.equal(countItems(dbFile), 3);
  assert.equal(walBytes(dbFile), 0, 'the old WAL is not next to the new database');
  assert.deepEqual(journalModesOf(dbFile), [2, 2], 'in WAL mode, as the database it replaced (the backup is not)');
  assert.deepEqual(journalModesOf(backup), [1, 1]);
  const aside = report.movedAside[0]!;
  assert.match(aside, /hiqlite\.db\.before-restore-2026-11-24T10-00-00-000Z$/);
  assert.ok(!existsSync(`${aside}-wal`), 'the old WAL was checkpointed into the kept file');
  assert.equal(countItems(aside), 11, 'the old database is complete, including what was only in its WAL');
  const marker = await readMarker(dbFile);
  assert.equal(marker?.source, `file:${backup}`);
  assert.equal(marker?.sha256, createHash('sha256').update(readFileSync(backup)).digest('hex'));
  assert.deepEqual(
    readdirSync(dbDir).filter((f) => f.includes('tmp') || f.includes('intent')),
    [],
  );
});

test('a restore into a folder that does not exist yet (a lost disk) creates it, private, and restores', async () => {
  const { dir, options } = setup();
  const dbFile = join(dir, 'new-disk', 'state_machine', 'db', 'hiqlite.db');
  const report = await restoreDatabase(options({ dbFile }));
  assert.equal(report.applied, true);
  assert.deepEqual(report.movedAside, []);
  assert.equal(countItems(dbFile), 3);
  assert.equal(statSync(join(dir, 'new-disk', 'state_machine', 'db')).mode & 0o777, 0o700);
});

test('as root, the folders a restore creates belong to the owner of the folder above; existing ones keep their mode', {
  skip: process.getuid?.() !== 0 && 'needs root to give files away',
}, async () => {
  const { dir, options } = setup();
  const disk = join(dir, 'app-disk');
  mkdirSync(disk, { mode: 0o755 });
  chmodSync(disk, 0o755);
  chownSync(disk, 4242, 4343);
  const dbFile = join(disk, 'state_machine', 'db', 'hiqlite.db');
  await restoreDatabase(options({ dbFile }));
  for (const folder of [join(disk, 'state_machine'), join(disk, 'state_machine', 'db')]) {
    const info = statSync(folder);
    assert.deepEqual([info.uid, info.gid], [4242, 4343], `${folder} belongs to the application's user`);
  }
  const disk2 = statSync(disk);
  assert.equal(disk2.mode & 0o777, 0o755, 'an existing folder is left as it was');
  assert.deepEqual([disk2.uid, disk2.gid], [4242, 4343]);
});

const failureBeforeRename =
  'a failure before the new database has its name is rolled back: the old database, as it was, and no intent';
test(failureBeforeRename, async () => {
  for (const step of ['after-intent', 'after-keep-old'] as const) {
    const { dbDir, dbFile, options } = setup();
    await assert.rejects(
      restoreDatabase(
        options({
          onStep: (at) => {
            if (at === step) throw new Error(`injected at ${at}`);
          },
        }),
      ),
      (err: unknown) => err instanceof Error && /injected/.test(err.message),
    );
    assert.equal(countItems(dbFile), 11, `${step}: the live database with its WAL's row`);
    assert.deepEqual(
      readdirSync(dbDir).filter((f) => !/^hiqlite\.db(-wal|-shm)?$/.test(f)),
      [],
      `${step}: no intent, no temp copy, nothing moved aside`,
    );
    const again = await restoreDatabase(options());
    assert.equal(again.applied, true, `${step}: the next restore is not blocked`);
    assert.equal(countItems(dbFile), 3);
  }
});

const failureAfterRename =
  'a failure after the new database has its name is RESTORE_INCOMPLETE; the next start finishes the bookkeeping';
test(failureAfterRename, async () => {
  const { dbFile, options } = setup();
  await assert.rejects(
    restoreDatabase(
      options({
        onStep: (at) => {
          if (at === 'after-rename') throw new Error('disk full while writing the marker');
        },
      }),
    ),
    (err: unknown) =>
      err instanceof LifeboatError &&
      err.code === 'RESTORE_INCOMPLETE' &&
      /is now the restored backup .*previous database is kept at .*before-restore/.test(err.message),
  );
  assert.equal(countItems(dbFile), 3, 'the restored database is live');
  assert.equal(await readMarker(dbFile), undefined, 'the marker was not written');
  const next = await recoverThenRestore(options());
  assert.equal(next.completedInterrupted, true);
  assert.equal(next.applied, false, 'not applied a second time');
  assert.equal((await readMarker(dbFile))?.sha256, next.sha256);
  assert.equal(countItems(next.movedAside[0]!), 11, 'the previous database is kept, complete');
});

test('the same source is not applied twice; force re-applies; a different source applies', async () => {
  const { dbFile, dir, options } = setup();
  await restoreDatabase(options());
  const db = new Database(dbFile);
  db.prepare('INSERT INTO items (name) VALUES (?)').run('newer data');
  db.close();
  const lines: string[] = [];
  const logger = createLogger({
    format: 'json',
    stream: new Writable({
      write: (c, _e, cb) => {
        lines.push(String(c));
        cb();
      },
    }) as unknown as NodeJS.WritableStream,
  });
  const again = await restoreDatabase(options({ logger }));
  assert.equal(again.applied, false);
  assert.equal(countItems(dbFile), 4, 'newer data survives');
  assert.ok(
    lines.some((l) => /NOT applying it again.*HQL_BACKUP_RESTORE_FORCE=true/.test(l)),
    lines.join(''),
  );
  const forced = await restoreDatabase(options({ force: true, now: () => new Date('2026-11-24T11:00:00Z') }));
  assert.equal(forced.applied, true);
  assert.equal(countItems(dbFile), 3);
  const other = join(dir, 'other.sqlite');
  createItemsDb(other, 7);
  const different = await restoreDatabase(
    options({ source: parseRestoreSource(`file:${other}`), now: () => new Date('2026-11-24T12:00:00Z') }),
  );
  assert.equal(different.applied, true);
  assert.equal(countItems(dbFile), 7);
});

test('bad sources and bad backups change nothing', async () => {
  const { dir, dbDir, options } = setup();
  const before = snapshotDir(dbDir);
  mkdirSync(join(dir, 'a-folder'));
  writeFileSync(join(dir, 'not-sqlite.txt'), 'hello, I am not a database'.repeat(10));
  const corrupt = join(dir, 'corrupt.sqlite');
  createItemsDb(corrupt, 3000);
  new Database(corrupt).pragma('journal_mode = DELETE');
  const fd = openSync(corrupt, 'r+');
  writeSync(fd, Buffer.alloc(4096, 0xee), 0, 4096, 4096 * 4);
  closeSync(fd);
  const cases: ReadonlyArray<readonly [string, string, RegExp]> = [
    [`file:${join(dir, 'missing.sqlite')}`, 'NOT_FOUND', /does not exist/],
    [`file:${join(dir, 'a-folder')}`, 'NOT_A_FILE', /not a regular file/],
    [`file:${join(dir, 'not-sqlite.txt')}`, 'NOT_SQLITE', /not an SQLite database/],
    [`file:${corrupt}`, 'BACKUP_INVALID', /failed validation/],
  ];
  for (const [source, code, re] of cases) {
    await assert.rejects(
      restoreDatabase(options({ source: parseRestoreSource(source) })),
      (err: unknown) => err instanceof LifeboatError && err.code === code && re.test(err.message),
      source,
    );
    assert.deepEqual(snapshotDir(dbDir), before, `${source} changed the database folder`);
  }
  await assert.rejects(
    restoreDatabase(options({ expectTables: ['users', 'items'] })),
    (err: unknown) => err instanceof LifeboatError && /lacks the expected table\(s\) users/.test(err.message),
  );
  assert.deepEqual(snapshotDir(dbDir), before);
  // Skipping validation applies a backup without the expected tables (with a warning).
  const skipped = await restoreDatabase(options({ expectTables: ['users'], skipValidation: true }));
  assert.equal(skipped.applied, true);
});

test('restoring where no database exists yet (lost disk) just puts it in place', async () => {
  const { dir, backup, options } = setup();
  const fresh = join(dir, 'new-node', 'hiqlite.db');
  mkdirSync(join(dir, 'new-node'));
  const report = await restoreDatabase(options({ dbFile: fresh }));
  assert.deepEqual(report.movedAside, []);
  assert.equal(countItems(fresh), 3);
  assert.equal(readFileSync(fresh).length, readFileSync(backup).length);
});

test('a database in rollback-journal mode is replaced by one in that mode; so is none (a lost disk)', async () => {
  const { dir, dbFile, backup, options } = setup();
  const old = new Database(dbFile);
  old.pragma('journal_mode = DELETE');
  old.close();
  await restoreDatabase(options());
  assert.deepEqual(journalModesOf(dbFile), [1, 1]);
  const fresh = join(dir, 'hiqlite.db');
  await restoreDatabase(options({ dbFile: fresh }));
  assert.deepEqual(journalModesOf(fresh), journalModesOf(backup));
});

test('a database another connection has open is not replaced (DB_IN_USE); nothing is moved', async () => {
  const { dbDir, dbFile, options } = setup();
  const app = new Database(dbFile);
  try {
    assert.equal((app.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n, 11);
    await assert.rejects(
      restoreDatabase(options()),
      (err: unknown) =>
        err instanceof LifeboatError &&
        err.code === 'DB_IN_USE' &&
        err.message.includes(dbFile) &&
        /stop the application/.test(err.hint ?? ''),
    );
    assert.deepEqual(
      readdirSync(dbDir).filter((f) => !['hiqlite.db', 'hiqlite.db-wal', 'hiqlite.db-shm'].includes(f)),
      [],
      'no temp, intent, marker or aside file',
    );
    assert.equal(
      (app.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n,
      11,
      'the application still sees all its data',
    );
  } finally {
    app.close();
  }
  assert.equal(countItems(dbFile), 11);
});

const oldDatabaseWhose =
  'an old database whose WAL cannot be folded in is moved aside ' +
  'as a set with its -wal/-shm, still openable with its data';
test(oldDatabaseWhose, async () => {
  const { dbFile, options } = setup();
  // A -shm that is not a file (damage): SQLite can read the database but cannot checkpoint it,
  // so its WAL, which holds the newest row, has to travel with it.
  mkdirSync(`${dbFile}-shm`);
  const sums = Object.fromEntries(
    ['', '-wal'].map((s) => [
      s,
      createHash('sha256')
        .update(readFileSync(dbFile + s))
        .digest('hex'),
    ]),
  );
  const report = await restoreDatabase(options());
  assert.equal(report.applied, true);
  const aside = report.movedAside[0]!;
  assert.deepEqual(report.movedAside, [aside, `${aside}-wal`, `${aside}-shm`]);
  for (const s of ['', '-wal'])
    assert.equal(
      createHash('sha256')
        .update(readFileSync(aside + s))
        .digest('hex'),
      sums[s],
      `${s || 'main file'} kept byte for byte`,
    );
  assert.ok(
    !existsSync(`${dbFile}-wal`) && !existsSync(`${dbFile}-shm`),
    'the old WAL can never be applied to the new database',
  );
  assert.equal(countItems(dbFile), 3);
  // The operator repairs the damage (the bad -shm) and opens the kept set: all 11 rows, WAL included.
  rmSync(`${aside}-shm`, { recursive: true });
  assert.equal(countItems(aside), 11);
});

test('file: with a non-empty -wal beside it is refused (the file alone is incomplete)', async () => {
  const { dir, dbDir, options } = setup();
  const live = join(dir, 'copied-live.db');
  createItemsDb(live, 2);
  writeFileSync(`${live}-wal`, Buffer.alloc(4096, 3));
  const before = snapshotDir(dbDir);
  await assert.rejects(
    restoreDatabase(options({ source: parseRestoreSource(`file:${live}`) })),
    (err: unknown) =>
      err instanceof LifeboatError && err.code === 'SOURCE_INCOMPLETE' && err.message.includes(`${live}-wal`),
  );
  assert.deepEqual(snapshotDir(dbDir), before);
});

test('the marker does not block a restore when the database itself is gone', async () => {
  const { dbFile, options } = setup();
  await restoreDatabase(options());
  rmSync(dbFile);
  const again = await restoreDatabase(options({ now: () => new Date('2026-11-25T10:00:00Z') }));
  assert.equal(again.applied, true);
  assert.equal(countItems(dbFile), 3);
});

const startUpRestore =
  'start-up (Lifeboat.open): HQL_BACKUP_RESTORE=file:… is applied once before ' +
  'the database opens; empty means none; a typo or a sidecar stops start-up';
test(startUpRestore, async () => {
  const cwd = tempDir();
  const backup = join(cwd, 'backup_node_1_1790000000.sqlite');
  createItemsDb(backup, 4);
  const env = { HQL_DATA_DIR: join(cwd, 'data'), HQL_BACKUP_RESTORE: `file:${backup}` } as NodeJS.ProcessEnv;
  const open = (over: Partial<Parameters<typeof Lifeboat.open>[0]> = {}) =>
    Lifeboat.open({ cwd, env, schedule: false, backupOnStart: 'never', ...over });
  const first = await open();
  const dbFile = first.dbFile;
  assert.equal((first.db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n, 4);
  first.db.prepare('INSERT INTO items (name) VALUES (?)').run('after the restore');
  await first.close();
  const second = await open();
  assert.equal((second.db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n, 5, 'not applied again');
  await second.close();
  // Rauthy's own example sets HQL_BACKUP_RESTORE = "": that is "no restore", not an error.
  const empty = await open({ env: { ...env, HQL_BACKUP_RESTORE: '' } });
  await empty.close();
  const before = readFileSync(dbFile);
  await assert.rejects(
    open({ env: { ...env, HQL_BACKUP_RESTORE: `file:data/backup.sqlite` } }),
    (err: unknown) => err instanceof ConfigError && /HQL_BACKUP_RESTORE.*relative path/.test(err.message),
  );
  await assert.rejects(
    open({ dbPath: dbFile }),
    (err: unknown) => err instanceof LifeboatError && err.code === 'RESTORE_SIDECAR',
  );
  assert.ok(readFileSync(dbFile).equals(before), 'nothing changed');
  assert.equal(await lockOwner(`${dbFile}.lifeboat.lock`), undefined, 'the lock is released after a refused start');
});

const restoredDatabaseGets =
  'the restored database gets the permissions (and, as root, ' +
  'the owner) of the one it replaces, so the application can open it';
test(restoredDatabaseGets, async () => {
  const { dbFile, options } = setup();
  chmodSync(dbFile, 0o640);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(dbFile, 4242, 4343);
  await restoreDatabase(options());
  const info = statSync(dbFile);
  assert.equal(info.mode & 0o777, 0o640);
  if (asRoot) {
    assert.deepEqual([info.uid, info.gid], [4242, 4343]);
    const marker = statSync(`${dbFile}.lifeboat-restore.json`);
    assert.deepEqual([marker.uid, marker.gid], [4242, 4343], 'the application can read the marker at its next start');
  }
});

test('an unreadable marker stops the restore instead of being taken as "never restored"', async () => {
  const { dbFile, options } = setup();
  writeFileSync(`${dbFile}.lifeboat-restore.json`, '{ torn');
  const before = readFileSync(dbFile);
  await assert.rejects(
    restoreDatabase(options()),
    (err: unknown) =>
      err instanceof LifeboatError && err.code === 'MARKER_UNREADABLE' && err.message.includes('lifeboat-restore.json'),
  );
  assert.ok(readFileSync(dbFile).equals(before));
});
