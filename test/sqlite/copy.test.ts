import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCopy } from '../../src/sqlite/client.js';
import Database from '../../src/sqlite/driver.js';
import type { CopyOutcome } from '../../src/sqlite/protocol.js';
import { tempDir } from '../support/tmp.js';

type Connection = InstanceType<typeof Database>;

/**
 * A live database whose newest pages are only in its WAL: written with checkpoints off, rows
 * deleted and added so the WAL holds several versions of some pages and pages past the file's end.
 */
function liveWalDb(path: string, pageSize = 4096): Connection {
  const db = new Database(path);
  db.pragma(`page_size = ${pageSize}`);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.pragma('wal_autocheckpoint = 0');
  const insert = db.prepare('INSERT INTO t (v) VALUES (randomblob(?))');
  for (let i = 0; i < 600; i++) insert.run(200 + (i % 7) * 300);
  db.exec('DELETE FROM t WHERE id % 3 = 0');
  for (let i = 0; i < 200; i++) insert.run(1000);
  return db;
}

function copy(source: string, dest: string, writerWaitMs?: number): Promise<CopyOutcome> {
  return runCopy({ op: 'copy', source, dest, ...(writerWaitMs === undefined ? {} : { writerWaitMs }) });
}

/** A database file with the header fields a standalone copy sets: rollback-journal versions, a trusted size. */
function asStandalone(image: Buffer, pageSize: number): Buffer {
  image[18] = 1;
  image[19] = 1;
  image.writeUInt32BE(image.length / pageSize, 28);
  image.copy(image, 92, 24, 28);
  return image;
}

/** The live database's file after a full checkpoint, as a standalone copy: what the copy must equal byte for byte. */
function checkpointedImage(db: Connection, path: string): Buffer {
  db.pragma('wal_checkpoint(TRUNCATE)');
  return asStandalone(readFileSync(path), db.pragma('page_size', { simple: true }) as number);
}

for (const pageSize of [512, 4096, 65536]) {
  test(`a WAL database (${pageSize}-byte pages) is copied at file speed, as a checkpoint writes it`, async () => {
    const dir = tempDir();
    const path = join(dir, 'live.db');
    const db = liveWalDb(path, pageSize);
    try {
      const walBefore = readFileSync(`${path}-wal`).length;
      assert.ok(walBefore > 0, 'the snapshot needs frames from the WAL');
      const out = await copy(path, join(dir, 'copy.db'));
      assert.equal(out.method, 'file', out.fallback);
      assert.equal(out.journalMode, 'wal');
      assert.equal(out.bytes, out.pages * pageSize);
      assert.deepEqual(readFileSync(join(dir, 'copy.db')), checkpointedImage(db, path));
    } finally {
      db.close();
    }
  });
}

test('a WAL that checkpoints have fully copied into the file is not read; the copy is still exact', async () => {
  const dir = tempDir();
  const path = join(dir, 'live.db');
  const db = liveWalDb(path);
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number; checkpointed: number }>;
    assert.ok(row!.log > 0 && row!.checkpointed === row!.log, 'every frame is in the file, the WAL is not reset');
    const out = await copy(path, join(dir, 'copy.db'));
    assert.equal(out.method, 'file', out.fallback);
    assert.deepEqual(readFileSync(join(dir, 'copy.db')), checkpointedImage(db, path));
  } finally {
    db.close();
  }
});

test('a WAL database no one has open (checkpointed, the WAL empty) is copied at file speed', async () => {
  const dir = tempDir();
  const path = join(dir, 'live.db');
  liveWalDb(path).close(); // the last connection checkpoints and removes the WAL
  const out = await copy(path, join(dir, 'copy.db'));
  assert.equal(out.method, 'file', out.fallback);
  assert.deepEqual(readFileSync(join(dir, 'copy.db')), asStandalone(readFileSync(path), 4096));
});

test('a rollback-journal database is copied at file speed under its shared lock', async () => {
  const dir = tempDir();
  const path = join(dir, 'live.db');
  const db = new Database(path);
  try {
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
    const insert = db.prepare('INSERT INTO t (v) VALUES (randomblob(800))');
    for (let i = 0; i < 500; i++) insert.run();
    const out = await copy(path, join(dir, 'copy.db'));
    assert.equal(out.method, 'file', out.fallback);
    assert.equal(out.journalMode, 'delete');
    assert.deepEqual(readFileSync(join(dir, 'copy.db')), asStandalone(readFileSync(path), 4096));
  } finally {
    db.close();
  }
});

test('a database reached through a symlink is copied with the WAL beside the real file', async () => {
  const dir = tempDir();
  const path = join(dir, 'live.db');
  const db = liveWalDb(path);
  try {
    symlinkSync(path, join(dir, 'link.db'));
    const out = await copy(join(dir, 'link.db'), join(dir, 'copy.db'));
    assert.equal(out.method, 'file', out.fallback);
    assert.deepEqual(readFileSync(join(dir, 'copy.db')), checkpointedImage(db, path));
  } finally {
    db.close();
  }
});

test('when the application holds its write lock too long, SQLite backup API copies instead, and says why', async () => {
  const dir = tempDir();
  const path = join(dir, 'live.db');
  const db = liveWalDb(path);
  const rows = db.prepare('SELECT count(*) FROM t').pluck().get() as number;
  db.exec('BEGIN IMMEDIATE');
  try {
    db.prepare("INSERT INTO t (v) VALUES (x'00')").run(); // not committed: not in any snapshot
    const out = await copy(path, join(dir, 'copy.db'), 50);
    assert.equal(out.method, 'backup-api');
    assert.match(out.fallback ?? '', /write transactions within 50 ms/);
    const copied = new Database(join(dir, 'copy.db'), { readonly: true });
    try {
      assert.equal(copied.prepare('SELECT count(*) FROM t').pluck().get(), rows);
      assert.equal(copied.pragma('journal_mode', { simple: true }), 'delete');
      assert.equal(copied.pragma('integrity_check', { simple: true }), 'ok');
    } finally {
      copied.close();
    }
  } finally {
    db.exec('ROLLBACK');
    db.close();
  }
});

test("copying leaves the application's own locks in this process in place", async () => {
  // POSIX locks belong to the process: a descriptor of the database or -shm closed in the
  // application's process would drop its connection's read lock, and another process could then
  // reset the WAL under a read transaction still in use. The copy runs in a child process.
  const dir = tempDir();
  const path = join(dir, 'live.db');
  const db = liveWalDb(path);
  const reader = new Database(path);
  try {
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM t').get();
    const truncateBusy = () =>
      execFileSync('sqlite3', [path, '.timeout 0', 'PRAGMA wal_checkpoint(TRUNCATE);'], { encoding: 'utf8' })
        .trim()
        .split('|')[0];
    assert.equal(truncateBusy(), '1', "another process cannot reset the WAL under this process's reader");
    const out = await copy(path, join(dir, 'copy.db'));
    assert.equal(out.method, 'file', out.fallback);
    assert.equal(truncateBusy(), '1', "after the copy, the reader's lock is still held");
  } finally {
    reader.exec('ROLLBACK');
    reader.close();
    db.close();
  }
});
