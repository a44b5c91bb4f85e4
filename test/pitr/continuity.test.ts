import assert from 'node:assert/strict';
import { closeSync, copyFileSync, openSync, readFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { rollingOfFile } from '../../src/pitr/base-object.js';
import { rollingAtWalEnd, tailAfter } from '../../src/pitr/capture/continuity.js';
import type { WalEnd } from '../../src/pitr/capture/segmenter.js';
import { publishedWal } from '../../src/pitr/capture/wal-index.js';
import { epochStart, frameOffset, readCommitted } from '../../src/pitr/capture/wal-tail.js';
import Database from '../../src/sqlite/driver.js';
import { tempDir } from '../support/tmp.js';

/**
 * Case A of a restart (spec §3.9; capture/continuity.ts): the database rebuilt at a WAL position
 * from the database file and the frames before it. SQLite is the oracle: the WAL cut at that
 * position, recovered and checkpointed by SQLite, must hash the same. A position the WAL does
 * not hold (another running checksum, a WAL gone or started over with unrelated salts) is
 * refused with a reason; a checkpoint that moved later commits into the database file makes the
 * rebuilt image differ from the one at the position, which the caller's hash comparison refuses.
 */

function liveDb() {
  const dir = tempDir();
  const path = join(dir, 'app.sqlite');
  const app = new Database(path);
  app.pragma('journal_mode = WAL');
  app.pragma('wal_autocheckpoint = 0');
  app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
  app.pragma('wal_checkpoint(TRUNCATE)');
  const insert = app.prepare('INSERT INTO t (v) VALUES (randomblob(?))');
  const update = app.prepare('UPDATE t SET v = randomblob(?) WHERE id = ?');
  return { dir, path, app, insert, update };
}

/** Every commit's end in the live WAL (one epoch). */
function ends(path: string): WalEnd[] {
  const fd = openSync(`${path}-wal`, 'r');
  try {
    const header = readFileSync(`${path}-wal`).subarray(0, 32);
    const got = readCommitted(fd, epochStart(header));
    assert.equal(got.kind, 'commits');
    if (got.kind !== 'commits') throw new Error('unreachable');
    return got.transactions.map((tx, i, all) => {
      const next = all[i + 1];
      const position = next ? { header, nextFrame: next.firstFrame, s0: next.s0, s1: next.s1 } : got.end;
      return { position, dbPages: tx.dbPages };
    });
  } finally {
    closeSync(fd);
  }
}

/** What SQLite makes of the database with the WAL cut after `end`: recovered, checkpointed, closed. */
async function sqliteAt(db: ReturnType<typeof liveDb>, end: WalEnd, name: string): Promise<string> {
  const copy = join(db.dir, `${name}.sqlite`);
  copyFileSync(db.path, copy);
  copyFileSync(`${db.path}-wal`, `${copy}-wal`);
  truncateSync(`${copy}-wal`, frameOffset(end.position.header, end.position.nextFrame));
  const c = new Database(copy);
  c.pragma('wal_checkpoint(TRUNCATE)');
  c.close();
  return (await rollingOfFile(copy, 4096)).value().toString('hex');
}

async function rebuilt(path: string, end: WalEnd, followsRestart = false): Promise<string> {
  const fd = openSync(`${path}-wal`, 'r');
  try {
    const got = await rollingAtWalEnd(path, fd, end, 4096);
    assert.ok(typeof got !== 'string', `rebuilt: ${got}`);
    assert.equal(got.rolling.dbPages, end.dbPages);
    assert.equal(got.followsRestart, followsRestart);
    return got.rolling.value().toString('hex');
  } finally {
    closeSync(fd);
  }
}

test('the database rebuilt at each commit of the WAL hashes as SQLite’s own checkpoint of it', async () => {
  const db = liveDb();
  for (let i = 1; i <= 30; i++) db.insert.run(200 + i * 300);
  for (let i = 1; i <= 10; i++) db.update.run(5000, i * 3);
  db.app.exec('DELETE FROM t WHERE id > 20'); // the database shrinks: the cut to dbPages counts
  db.app.exec('VACUUM');
  db.insert.run(100);
  const all = ends(db.path);
  assert.ok(all.length > 40);
  const at = [0, 1, 7, 29, 35, all.length - 3, all.length - 2, all.length - 1];
  assert.ok(all[all.length - 2]!.dbPages < Math.max(...all.map((e) => e.dbPages)), 'the VACUUM shrank it');
  for (const i of at) {
    assert.equal(await rebuilt(db.path, all[i]!), await sqliteAt(db, all[i]!, `c${i}`), `commit ${i + 1}`);
  }
});

test('a WAL position the WAL does not hold is refused, with why', async () => {
  const db = liveDb();
  for (let i = 1; i <= 5; i++) db.insert.run(1000);
  const end = ends(db.path)[2]!;
  const fd = openSync(`${db.path}-wal`, 'r');
  try {
    const wrongSum = { ...end, position: { ...end.position, s0: (end.position.s0 + 1) >>> 0 } };
    assert.match(String(await rollingAtWalEnd(db.path, fd, wrongSum, 4096)), /not those shipped/);
    const wrongSize = { ...end, dbPages: end.dbPages + 1 };
    assert.match(String(await rollingAtWalEnd(db.path, fd, wrongSize, 4096)), /not those shipped/);
    const otherSalts = Buffer.from(end.position.header);
    otherSalts.writeUInt32BE((otherSalts.readUInt32BE(16) + 7) >>> 0, 16);
    const other = { ...end, position: { ...end.position, header: otherSalts } };
    assert.match(String(await rollingAtWalEnd(db.path, fd, other, 4096)), /does not follow/);
    assert.match(String(await rollingAtWalEnd(db.path, undefined, end, 4096)), /gone or empty/);
  } finally {
    closeSync(fd);
  }
});

test('a checkpoint moved later commits into the database file: the rebuilt image is not the one there', async () => {
  const db = liveDb();
  for (let i = 1; i <= 5; i++) db.insert.run(1000);
  const end = ends(db.path)[2]!;
  const before = await rebuilt(db.path, end);
  assert.equal(before, await sqliteAt(db, end, 'before'));
  db.app.pragma('wal_checkpoint(PASSIVE)'); // commits 4 and 5 reach the database file; the WAL keeps its frames
  assert.notEqual(await rebuilt(db.path, end), before);
});

test('after a restart that follows the epoch, the database file is the rebuilt image', async () => {
  const db = liveDb();
  for (let i = 1; i <= 5; i++) db.insert.run(1000);
  const last = ends(db.path).at(-1)!;
  const atEnd = await sqliteAt(db, last, 'end');
  db.app.pragma('wal_checkpoint(RESTART)');
  db.insert.run(2000); // the first frame of the next epoch rewrites the header (salt-1 + 1)
  assert.notDeepEqual(readFileSync(`${db.path}-wal`).subarray(0, 32), last.position.header);
  assert.equal(await rebuilt(db.path, last, true), atEnd);
});

/** The tail after `end` as capture takes it, with the wal-index as SQLite publishes it now. */
function tail(db: ReturnType<typeof liveDb>, end: WalEnd, restartSeen: boolean) {
  const fd = openSync(`${db.path}-wal`, 'r');
  try {
    const published = publishedWal(db.path);
    assert.ok(published);
    return tailAfter(fd, end.position, published, restartSeen);
  } finally {
    closeSync(fd);
  }
}

test('the tail after the chain’s end: its commits, checkpointed or not; a restart only when the rebuild saw it', () => {
  const db = liveDb();
  for (let i = 1; i <= 5; i++) db.insert.run(1000);
  const at = ends(db.path);
  const got = tail(db, at[1]!, false);
  assert.ok(typeof got !== 'string', String(got));
  assert.equal(got.transactions.length, 3, 'commits 3, 4 and 5');
  assert.deepEqual(got.end, at[4]!.position);
  assert.equal(got.checkpointed, false);
  db.app.pragma('wal_checkpoint(PASSIVE)');
  const checkpointed = tail(db, at[1]!, false);
  assert.ok(typeof checkpointed !== 'string' && checkpointed.checkpointed, 'all of it is in the database file too');

  // The WAL restarts and commit 6 is the new epoch's first: after commits 3…5 that only the database file holds now.
  db.app.pragma('wal_checkpoint(RESTART)');
  db.insert.run(1000);
  assert.match(String(tail(db, at[1]!, false)), /restarted while the database was rebuilt/);
  // Seen by the rebuild (it hashed the database file alone, which then held nothing after the chain's end): followed.
  const followed = tail(db, at[4]!, true);
  assert.ok(typeof followed !== 'string', String(followed));
  assert.equal(followed.transactions.length, 1, 'commit 6, from frame 1 of the new epoch');
  assert.equal(followed.transactions[0]!.firstFrame, 1);
});
