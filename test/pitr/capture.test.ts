import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, openSync, readSync, renameSync, symlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { before } from 'node:test';
import { pino } from 'pino';
import { BrotliThread } from '../../src/pitr/capture/brotli-thread.js';
import { Capture } from '../../src/pitr/capture/capture.js';
import { readStateFile } from '../../src/pitr/capture/state-file.js';
import { dbPrefix, newDbId, parsePitrName } from '../../src/pitr/names.js';
import { restorePitr } from '../../src/pitr/restore/apply.js';
import type { BrotliCompressor } from '../../src/pitr/segment.js';
import Database from '../../src/sqlite/driver.js';
import { createWalDb } from '../support/db.js';
import { getTestS3, localTest, type TestS3 } from '../support/s3.js';
import { isLifeboat, openConditionalStore } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { KEY_A, KEY_B, keySet } from './fixtures.js';
import { modelAfter, rowsOf, startWriter } from './model.js';

/**
 * Continuous capture end to end, against the real S3 server and an application in a process of
 * its own that commits while capture starts and runs, checkpointing (and so restarting the WAL)
 * every few frames: every transaction the application committed is restorable by txid, each
 * restore holds exactly the rows the application had after that commit, and `latest` after
 * flush() is the last commit.
 */

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

/** An application's database in WAL mode with one table, `t (v)`, and its connection. */
function walApp() {
  const dir = tempDir();
  const dbPath = join(dir, 'app.sqlite');
  const app = new Database(dbPath);
  app.pragma('journal_mode = WAL');
  app.exec('CREATE TABLE t (v)');
  return { dir, dbPath, app };
}

/** The values of `t` in a restore of the database's latest point (into `dir`). */
async function latestValues(store: ReturnType<typeof openConditionalStore>, dbId: string, dir: string) {
  const path = join(dir, 'latest.sqlite');
  await restorePitr({ store, keys: keySet(KEY_A), dbId, target: { kind: 'latest' }, path });
  const restored = new Database(path, { readonly: true });
  try {
    return restored.prepare('SELECT v FROM t ORDER BY v').pluck().all();
  } finally {
    restored.close();
  }
}

localTest('every committed transaction is restorable by txid, with exactly the rows of that commit', async () => {
  const dir = tempDir();
  const dbPath = join(dir, 'app.sqlite');
  const store = openConditionalStore(await s3.place());
  const dbId = newDbId();
  const writer = startWriter(dbPath, 1200, 150);
  assert.equal(await writer.line(), 'ready');

  const shipped: number[] = [];
  // Capture is given a symlink: SQLite keeps -wal and -shm beside the real file, which capture reads.
  const link = join(dir, 'link.sqlite');
  symlinkSync(dbPath, link);
  const capture = await Capture.start({
    dbPath: link,
    dbId,
    store,
    key: KEY_A,
    pollMs: 20,
    syncIntervalMs: 100,
    segmentMax: 96 * 1024,
    checkpointPages: 60,
    rebaseRatio: 1000, // one generation: txid = base + commits
  });
  capture.on('shipped', ({ txid }: { txid: number }) => shipped.push(txid));
  // Half way, with the application between commits, a flush runs capture's checkpoint cycle (its
  // WAL is far past 60 pages): the application's next commit then restarts the WAL, whatever the
  // machine's load did to the timing of the cycles while it commits.
  writer.send('to 600');
  assert.equal(await writer.line(), 'paused 600');
  await capture.flush();
  assert.ok(capture.status().checkpoints.done > 0, 'the flush ran a checkpoint cycle');
  writer.send('go');
  assert.equal(await writer.line(), 'done 1200');
  await once(writer.child, 'exit');
  const last = await capture.flush();
  const status = capture.status();
  await capture.close();
  assert.equal(status.state, 'healthy');
  assert.equal(status.shippedTxid, last);
  assert.ok(status.segments > 5, `several segments (${status.segments})`);
  assert.ok(status.walRestarts > 0, `the application restarted the WAL (${JSON.stringify(status.checkpoints)})`);
  assert.deepEqual(
    [...shipped].sort((a, b) => a - b),
    shipped,
    'acknowledged in order',
  );

  const listed = await store.list(dbPrefix(dbId));
  const bases = listed.map((o) => parsePitrName(o.key)).filter((n) => n?.kind === 'base');
  assert.equal(bases.length, 1);
  // What the metrics count is what the bucket holds; capture's own checkpoint cycles ran and were timed.
  const bytesOf = (suffix: string) => listed.filter((o) => o.key.endsWith(suffix)).reduce((n, o) => n + o.size, 0);
  assert.deepEqual(status.shipped, {
    segments: status.segments,
    segmentBytes: bytesOf('.lbs'),
    bases: 1,
    baseBytes: bytesOf('.lbb'),
  });
  const { done, lockMs, lastLockMs, phase1Ms } = status.checkpoints;
  assert.ok(done > 0 && lockMs >= lastLockMs && lastLockMs > 0, JSON.stringify(status.checkpoints));
  assert.ok(phase1Ms > 0, 'each cycle began with a checkpoint outside the write lock');
  const baseTxid = bases[0]!.kind === 'base' ? bases[0]!.txid : 0;

  const keys = keySet(KEY_B, KEY_A);
  const restore = async (target: Parameters<typeof restorePitr>[0]['target'], name: string) => {
    const path = join(dir, `${name}.sqlite`);
    const got = await restorePitr({ store, keys, dbId, target, path });
    return { got, rows: rowsOf(path) };
  };
  // The base holds the commits before capture began; txid base + j is the application's commit k0 + j.
  const atBase = await restore({ kind: 'txid', txid: baseTxid }, 'base');
  const k0 = atBase.rows.last;
  assert.ok(k0 >= 150, `the base has the commits made before capture started (${k0})`);
  assert.equal(last - baseTxid, 1200 - k0, 'one transaction per application commit after the base');

  const latest = await restore({ kind: 'latest' }, 'latest');
  assert.equal(latest.got.txid, last);
  assert.deepEqual(latest.rows, modelAfter(1200));

  for (let j = 1; baseTxid + j <= last; j += 97) {
    const { got, rows } = await restore({ kind: 'txid', txid: baseTxid + j }, `tx${j}`);
    assert.equal(got.txid, baseTxid + j);
    assert.deepEqual(rows, modelAfter(k0 + j), `txid ${baseTxid + j}`);
  }

  // A time target: the last transaction seen at or before it.
  const mid = await restore({ kind: 'txid', txid: baseTxid + 500 }, 'mid');
  const byTime = await restore({ kind: 'time', ms: mid.got.observedMs }, 'time');
  assert.ok(byTime.got.txid >= baseTxid + 500 && byTime.got.observedMs === mid.got.observedMs);
  if (byTime.got.txid < last) {
    const after = await restore({ kind: 'txid', txid: byTime.got.txid + 1 }, 'after');
    assert.ok(after.got.observedMs > mid.got.observedMs, 'the next transaction was seen later');
  }
});

localTest(
  'a transaction larger than segment_max is split across segments and restores, and so does the next',
  async () => {
    const { dir, dbPath, app } = walApp();
    const store = openConditionalStore(await s3.place());
    const dbId = newDbId();
    const capture = await Capture.start({ dbPath, dbId, store, key: KEY_A, segmentMax: 64 * 1024, pollMs: 20 });
    try {
      app.prepare('INSERT INTO t VALUES (0)').run();
      await capture.flush();
      const insert = app.prepare('INSERT INTO t VALUES (?)');
      // ~600 KiB of pages in one transaction: about ten 64 KiB segments.
      app.transaction(() => {
        for (let v = 1; v <= 200; v++) insert.run(Buffer.alloc(3000, v).toString('hex').slice(0, 3000));
      })();
      const big = await capture.flush();
      insert.run('after');
      const next = await capture.flush();
      assert.ok(capture.status().segments >= 8, `split into ${capture.status().segments} segments`);
      for (const [txid, rows] of [
        [big, 201],
        [next, 202],
      ] as const) {
        const path = join(dir, `r${txid}.sqlite`);
        const got = await restorePitr({ store, keys: keySet(KEY_A), dbId, target: { kind: 'txid', txid }, path });
        assert.equal(got.txid, txid);
        const restored = new Database(path, { readonly: true });
        assert.equal(restored.prepare('SELECT count(*) FROM t').pluck().get(), rows, `txid ${txid}`);
        restored.close();
      }
    } finally {
      await capture.close();
      app.close();
    }
  },
);

localTest('capture started while the WAL is empty ships the first commits after it (random salts)', async () => {
  const dir = tempDir();
  const dbPath = join(dir, 'app.sqlite');
  createWalDb(dbPath, 'CREATE TABLE t (v)'); // the application starts with no WAL, as after a clean restart
  const app = new Database(dbPath);
  app.prepare('SELECT count(*) FROM t').get();
  const store = openConditionalStore(await s3.place());
  const dbId = newDbId();
  const capture = await Capture.start({ dbPath, dbId, store, key: KEY_A, pollMs: 20, syncIntervalMs: 100 });
  try {
    const base = capture.status().lastTxid;
    // A first start records its chain before it answers (its clean-up of a dead capture's temp files once
    // removed this start's own state.json on its way to its name: a restart then began a new generation).
    const saved = await readStateFile(`${dbPath}.lifeboat-pitr`);
    assert.equal(saved.chain?.genId, capture.status().genId, 'state.json holds the new chain');
    assert.equal(saved.chain?.txid, base);
    // The application's connection never restarted the WAL, so its first frame brings random salts,
    // not the ones the wal-index had when the base was pinned: capture used to wait for those for ever.
    app.prepare('INSERT INTO t VALUES (1)').run();
    app.prepare('INSERT INTO t VALUES (2)').run();
    assert.equal(await capture.flush(), base + 2, 'both commits are in the bucket');
    assert.deepEqual(await latestValues(store, dbId, dir), [1, 2]);
  } finally {
    await capture.close();
    app.close();
  }
});

localTest('flush() never answers from a tick that could not read the wal-index: it refuses, then answers', async () => {
  const { dbPath, app } = walApp();
  const store = openConditionalStore(await s3.place());
  const capture = await Capture.start({ dbPath, dbId: newDbId(), store, key: KEY_A, pollMs: 20, syncIntervalMs: 100 });
  try {
    app.prepare('INSERT INTO t VALUES (1)').run();
    const first = await capture.flush();
    app.prepare('INSERT INTO t VALUES (2)').run();
    // A writer updating the wal-index leaves its two header copies different for a moment; held so here
    // (a byte of the second copy changed in the real -shm), no connection starts a transaction meanwhile.
    const shm = openSync(`${dbPath}-shm`, 'r+');
    const copy = Buffer.alloc(1);
    readSync(shm, copy, 0, 1, 48 + 16);
    writeSync(shm, Buffer.from([copy[0]! ^ 0xff]), 0, 1, 48 + 16);
    try {
      await assert.rejects(capture.flush(), (err) => {
        isLifeboat('PITR_FLUSH_INCOMPLETE')(err);
        assert.match((err as Error).message, /-shm stayed unreadable.*after txid/);
        return true;
      });
    } finally {
      writeSync(shm, copy, 0, 1, 48 + 16);
      closeSync(shm);
    }
    assert.equal(await capture.flush(), first + 1, 'the commit made before the tear is in the bucket');
  } finally {
    await capture.close();
    app.close();
  }
});

localTest('an error that lasts is logged once (not at every poll) and its end once; status clears it', async () => {
  const { dbPath, app } = walApp();
  const store = openConditionalStore(await s3.place());
  const lines: Array<{ level: number; msg: string; failedTicks?: number }> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const errors: Error[] = [];
  let clock = Date.now();
  const now = () => clock;
  const capture = await Capture.start({ dbPath, dbId: newDbId(), store, key: KEY_A, pollMs: 20, log, now });
  capture.on('error', (err: Error) => errors.push(err));
  try {
    app.prepare('INSERT INTO t VALUES (1)').run();
    const first = await capture.flush();
    // The -shm moved away (an operator's cleanup script): capture cannot read the wal-index at any tick.
    renameSync(`${dbPath}-shm`, `${dbPath}-shm.away`);
    try {
      app.prepare('INSERT INTO t VALUES (2)').run();
      await assert.rejects(capture.flush(), isLifeboat('PITR_FLUSH_INCOMPLETE'));
      await assert.rejects(capture.flush(), isLifeboat('PITR_FLUSH_INCOMPLETE'));
      assert.match(capture.status().error ?? '', /-shm does not exist/);
      assert.equal(lines.filter((l) => /still fails/.test(l.msg)).length, 0);
      clock += 61_000; // a minute later, still failing: one reminder with the count
      await assert.rejects(capture.flush(), isLifeboat('PITR_FLUSH_INCOMPLETE'));
      const reminders = lines.filter((l) => /still fails/.test(l.msg));
      assert.equal(reminders.length, 1);
      assert.ok(reminders[0]!.failedTicks! > 40, `${reminders[0]!.failedTicks}`);
    } finally {
      renameSync(`${dbPath}-shm.away`, `${dbPath}-shm`);
    }
    const failures = lines.filter((l) => /capture failed/.test(l.msg));
    assert.equal(failures.length, 1, `one line for 60 failed ticks: ${JSON.stringify(lines)}`);
    assert.equal(errors.length, 1, 'one error event');
    assert.equal(await capture.flush(), first + 1, 'the commit made meanwhile is shipped');
    const recovered = lines.filter((l) => /works again/.test(l.msg));
    assert.equal(recovered.length, 1);
    assert.ok(recovered[0]!.failedTicks! >= 60, `failed ticks counted (${recovered[0]!.failedTicks})`);
    assert.equal(capture.status().error, undefined, 'the error is cleared once capture works again');
  } finally {
    await capture.close();
    app.close();
  }
});

localTest(
  'a segment that cannot be sealed (its compression fails) starts a new generation: nothing is lost',
  async () => {
    const { dir, dbPath, app } = walApp();
    const store = openConditionalStore(await s3.place());
    const dbId = newDbId();
    // Injected: a real compression thread cannot be made to fail on demand (it can die, or run out of memory).
    const thread = new BrotliThread();
    let calls = 0;
    const compressor: BrotliCompressor = (raw, params) =>
      ++calls === 2 ? Promise.reject(new Error('the compression thread exited')) : thread.compress(raw, params);
    const capture = await Capture.start({
      dbPath,
      dbId,
      store,
      key: KEY_A,
      pollMs: 20,
      syncIntervalMs: 100,
      compressor,
    });
    try {
      app.prepare('INSERT INTO t VALUES (1)').run();
      await capture.flush();
      app.prepare('INSERT INTO t VALUES (2)').run(); // its segment fails
      await capture.flush().catch(() => undefined);
      app.prepare('INSERT INTO t VALUES (3)').run();
      await capture.flush();
      assert.ok(calls > 2, `sealing went on (${calls} calls)`);
      const bases = (await store.list(dbPrefix(dbId))).filter((o) => parsePitrName(o.key)?.kind === 'base');
      assert.equal(bases.length, 2, 'a second generation, its base taken after the failure');
      assert.deepEqual(await latestValues(store, dbId, dir), [1, 2, 3]);
    } finally {
      await capture.close();
      await thread.close();
      app.close();
    }
  },
);
