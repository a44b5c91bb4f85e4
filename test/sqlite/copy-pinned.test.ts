import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { publishedWal } from '../../src/pitr/capture/wal-index.js';
import { runCopy } from '../../src/sqlite/client.js';
import Database from '../../src/sqlite/driver.js';
import type { CallerPin } from '../../src/sqlite/protocol.js';
import { createBank } from '../support/bank.js';
import { tempDir } from '../support/tmp.js';

/**
 * The copy under the caller's pin (continuous backup's base inside a generation): the caller
 * holds a read transaction at a commit, the copy process opens no connection and writes that
 * commit exactly — while the application commits, grows the database and checkpoints frames
 * into the file being read.
 */

const WRITER = fileURLToPath(new URL('../support/bank-writer.ts', import.meta.url));
type Connection = InstanceType<typeof Database>;

/** What differs between any two commits of the bank writer: the accounts, and the balances weighted by id. */
function fingerprint(db: Connection): { accounts: number; weighted: number } {
  return db.prepare('SELECT count(*) AS accounts, sum(balance * id) AS weighted FROM accounts').get() as {
    accounts: number;
    weighted: number;
  };
}

/** Under a moment's write lock, `pinner` begins a read transaction at the newest commit; its pin. */
function pinNow(path: string, pinner: Connection, barrier: Connection): CallerPin {
  barrier.exec('BEGIN IMMEDIATE');
  try {
    pinner.exec('BEGIN');
    const pages = Number(pinner.pragma('page_count', { simple: true }));
    const index = publishedWal(path);
    assert.ok(index, 'the wal-index is readable under the write lock');
    return {
      salts: index.salts.toString('hex'),
      mxFrame: index.mxFrame,
      checksum: index.frameChecksum,
      nBackfill: index.nBackfill,
      pageSize: Number(pinner.pragma('page_size', { simple: true })),
      pages,
    };
  } finally {
    barrier.exec('ROLLBACK');
  }
}

test('a copy under the caller’s pin is exactly the pinned commit while the application writes', async (t) => {
  const dir = tempDir();
  const db = join(dir, 'bank.db');
  createBank(db, 20_000);
  // A PASSIVE checkpoint every 7 commits and a new account every 5.
  const writer = spawn(process.execPath, ['--import', 'tsx', WRITER, db, '20000', '7', '5'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => writer.kill());
  const lines = createInterface({ input: writer.stdout })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'ready');
  const pinner = new Database(db, { fileMustExist: true });
  const barrier = new Database(db, { fileMustExist: true, timeout: 10_000 });
  const seen: number[] = [];
  try {
    for (let round = 0; round < 4; round++) {
      const pin = pinNow(db, pinner, barrier);
      const expected = fingerprint(pinner); // inside the pinned read transaction
      const dest = join(dir, `pinned-${round}.sqlite`);
      const keepHeader = round % 2 === 0;
      const copy = await runCopy({ op: 'copy', source: db, dest, pinnedByCaller: pin, keepHeader });
      const live = new Database(db, { readonly: true });
      const after = fingerprint(live);
      live.close();
      pinner.exec('COMMIT');
      assert.equal(copy.method, 'file');
      assert.deepEqual(copy.pin, { salts: pin.salts, mxFrame: pin.mxFrame, checksum: pin.checksum });
      const image = new Database(dest, { readonly: true });
      try {
        assert.deepEqual(fingerprint(image), expected, `round ${round}: the pinned commit, no other`);
        assert.equal(image.pragma('integrity_check', { simple: true }), 'ok');
        assert.equal(image.pragma('journal_mode', { simple: true }), keepHeader ? 'wal' : 'delete');
      } finally {
        image.close();
      }
      assert.notDeepEqual(after, expected, 'the application committed while the copy ran');
      seen.push(expected.accounts);
    }
  } finally {
    pinner.close();
    barrier.close();
  }
  writer.stdin.write('stop 0\n');
  await lines.next();
  assert.ok(seen.at(-1)! > seen[0]!, `the database grew between the copies (${seen.join(', ')} accounts)`);
});

test('a pin the WAL does not hold fails the copy with SOURCE_CHANGED and leaves no file', async () => {
  const dir = tempDir();
  const db = join(dir, 'bank.db');
  createBank(db, 100);
  const app = new Database(db);
  app.prepare('UPDATE accounts SET balance = balance + 1 WHERE id = 1').run();
  const pinner = new Database(db);
  const barrier = new Database(db);
  try {
    const pin = pinNow(db, pinner, barrier);
    const dest = join(dir, 'copy.sqlite');
    const wrong = { ...pin, checksum: [pin.checksum[0] ^ 1, pin.checksum[1]] as const };
    await assert.rejects(runCopy({ op: 'copy', source: db, dest, pinnedByCaller: wrong }), (err: Error) => {
      assert.match(err.message, /is not the commit its reader pinned: .*checksum/);
      return true;
    });
    assert.equal(existsSync(dest), false);
  } finally {
    pinner.close();
    barrier.close();
    app.close();
  }
});

test('a copy whose signal aborts is killed: it rejects, and one aborted before it starts never forks', async () => {
  const dir = tempDir();
  const db = join(dir, 'bank.db');
  createBank(db, 20_000);
  const pinner = new Database(db);
  const barrier = new Database(db);
  try {
    const pin = pinNow(db, pinner, barrier);
    const stop = new AbortController();
    const copy = runCopy(
      { op: 'copy', source: db, dest: join(dir, 'a.sqlite'), pinnedByCaller: pin },
      (p) => {
        if (p.progress === 'image') stop.abort(new Error('closing'));
      },
      stop.signal,
    );
    await assert.rejects(copy, /exited \(SIGKILL\) before answering/);
    const before = new AbortController();
    before.abort(new Error('closed already'));
    await assert.rejects(
      runCopy({ op: 'copy', source: db, dest: join(dir, 'b.sqlite'), pinnedByCaller: pin }, undefined, before.signal),
      /closed already/,
    );
    assert.equal(existsSync(join(dir, 'b.sqlite')), false);
  } finally {
    pinner.close();
    barrier.close();
  }
});
