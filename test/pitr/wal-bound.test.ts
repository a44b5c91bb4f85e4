import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Capture } from '../../src/pitr/capture/capture.js';
import { publishedWal } from '../../src/pitr/capture/wal-index.js';
import { dbPrefix, newDbId, parsePitrName } from '../../src/pitr/names.js';
import { restorePitr } from '../../src/pitr/restore/apply.js';
import Database from '../../src/sqlite/driver.js';
import { createWalDb } from '../support/db.js';
import { faults } from '../support/fault-proxy.js';
import { overriding } from '../support/observed-store.js';
import { getTestS3, localTest } from '../support/s3.js';
import { openConditionalStore, withProxy } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { KEY_A, keySet } from './fixtures.js';
import { spawnScript } from './model.js';

/**
 * The hard WAL bound (spec §3.2, back-pressure), against the real S3 server behind the test's
 * fault proxy (the one fake: a server that answers 500 to everything, on demand). While the
 * bucket cannot take the segments, capture's sealed queue fills and it stops sealing; its read
 * transaction would keep the application's WAL from starting over, so the WAL — and the disk —
 * would grow for as long as the outage lasts. At `walMaxPages` capture lets go: the
 * application's WAL starts over, capture says so (lagging, a gap), and once the bucket answers a
 * new generation holds everything; nothing committed is lost.
 */

before(async () => {
  await getTestS3();
});

test('a writer nearly always inside a transaction: at walHardPages the checkpoint waits for the lock', async () => {
  const dir = tempDir();
  const dbPath = join(dir, 'app.sqlite');
  createWalDb(dbPath, 'CREATE TABLE t (v INTEGER PRIMARY KEY, pad BLOB)');
  const store = openConditionalStore(await (await getTestS3()).place());
  const dbId = newDbId();
  const walHardPages = 80;
  const capture = await Capture.start({
    dbPath,
    dbId,
    store,
    key: KEY_A,
    pollMs: 20,
    syncIntervalMs: 50,
    checkpointPages: 20,
    walHardPages,
    // No base inside the generation: its pinned reader would keep the WAL from starting over while
    // it is copied, whatever the checkpoints do (the segments soon outweigh this tiny database).
    rebaseRatio: 1e6,
  });
  // Each transaction holds the write lock for 100 ms and lets it go for 15: capture's one try
  // after each segment (sealed 50 ms after the commit it holds) always finds it taken.
  const hog = spawnScript('lock-hog-writer.ts', [dbPath, '100', '15']);
  try {
    const frames: number[] = [];
    let rows = 0;
    for (let n = 0; n < 40; n++) {
      const [word, , v] = (await hog.line()).split(' ');
      assert.equal(word, 'committed');
      rows = Number(v);
      frames.push(publishedWal(dbPath)?.mxFrame ?? Number.NaN);
    }
    const { checkpoints } = capture.status();
    assert.ok(checkpoints.forced >= 1, `cycles at the bound waited for the lock: ${JSON.stringify(checkpoints)}`);
    assert.ok(checkpoints.done >= 1, `and got it: ${JSON.stringify(checkpoints)}`);
    assert.ok(
      frames.some((f, i) => i > 0 && f < frames[i - 1]!),
      `the WAL started over (frames after each commit: ${frames})`,
    );
    assert.ok(Math.max(...frames) <= walHardPages + 40, `the WAL stayed near its bound: ${frames}`);

    hog.send('stop');
    for (let line = await hog.line(); line !== 'stopped'; line = await hog.line()) rows = Number(line.split(' ')[2]);
    await capture.flush();
    const path = join(dir, 'latest.sqlite');
    await restorePitr({ store, keys: keySet(KEY_A), dbId, target: { kind: 'latest' }, path });
    const restored = new Database(path, { readonly: true });
    const got = restored.prepare('SELECT count(*) AS n, max(v) AS top FROM t').get();
    restored.close();
    assert.deepEqual(got, { n: rows, top: rows }, 'every commit is in the latest restore');
  } finally {
    hog.child.kill();
    await capture.close({ ship: false });
  }
});

localTest(
  'an S3 outage: at walMaxPages capture lets go of the WAL, which starts over; then a new generation',
  async () => {
    const dir = tempDir();
    const dbPath = join(dir, 'app.sqlite');
    const app = new Database(dbPath);
    app.pragma('journal_mode = WAL');
    app.pragma('wal_autocheckpoint = 100');
    app.exec('CREATE TABLE t (v INTEGER PRIMARY KEY, pad BLOB)');
    const insert = app.prepare('INSERT INTO t VALUES (?, randomblob(3000))');
    let v = 0;
    const commit = (n: number) => {
      for (let i = 0; i < n; i++) insert.run(++v);
    };

    const { proxy, config } = await withProxy();
    const real = openConditionalStore(config);
    // The one fault the proxy cannot make: a bucket that takes PUTs but not a LIST (an S3 that flaps
    // between them). `gate.list`, when set, answers the next LIST in place of the bucket.
    const gate: { list?: () => Promise<never> } = {};
    const store = overriding(real, { list: (prefix, options) => gate.list?.() ?? real.list(prefix, options) });
    const dbId = newDbId();
    const walMaxPages = 400;
    // Capture's clock runs ahead on demand, to bring its next try at a new generation (every 10 s) now.
    let ahead = 0;
    const capture = await Capture.start({
      now: () => Date.now() + ahead,
      dbPath,
      dbId,
      store,
      key: KEY_A,
      pollMs: 20,
      syncIntervalMs: 50,
      segmentMax: 32 * 1024,
      queueMax: 64 * 1024,
      checkpointPages: 50,
      walMaxPages,
    });
    const events: { kind: string; reason?: string }[] = [];
    capture.on('gap', ({ reason }: { reason: string }) => events.push({ kind: 'gap', reason }));
    capture.on('generation', ({ reason }: { reason: string }) => events.push({ kind: 'generation', reason }));
    try {
      commit(20);
      await capture.flush();
      const firstGen = capture.status().genId;

      proxy.set(faults.http500(Number.POSITIVE_INFINITY));
      proxy.resetOpen();
      // Two pages a commit: the queue (64 KiB) fills within a few dozen, the WAL reaches 400 frames within ~200.
      for (let round = 0; round < 400 && !events.some((e) => e.kind === 'gap'); round++) {
        commit(5);
        await yieldToLoop();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const gap = events.find((e) => e.kind === 'gap');
      assert.ok(gap, `capture let go of the WAL (${v} commits, ${JSON.stringify(capture.status())})`);
      assert.match(gap.reason ?? '', /wal_max_pages 400/);
      assert.equal(capture.status().state, 'lagging');
      assert.ok(capture.status().oldestUnshippedMs !== undefined, 'the lag is still reported');
      await assert.rejects(capture.flush(), /continuous backup is not shipping/);

      // The application's own checkpoints now backfill everything and its next commit starts the WAL over.
      // (A base inside the generation that was being copied is killed first: its pin goes with it.)
      const frames: number[] = [];
      for (let round = 0; round < 200; round++) {
        commit(20);
        frames.push(publishedWal(dbPath)?.mxFrame ?? Number.NaN);
        if (frames.at(-1)! < walMaxPages) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.ok(frames.at(-1)! < walMaxPages, `the WAL started over (frames after each 20 commits: ${frames})`);

      // S3 takes the sealed segments again, but its first LIST (capture's try at a new generation)
      // hangs, then fails. The bucket is asked before any read transaction is taken, so the
      // application's WAL keeps starting over meanwhile. (Commits in the WAL first, so that a reader
      // taken now would hold a mark in it.)
      commit(10);
      let release!: () => void;
      const hung = new Promise<void>((resolve) => {
        release = resolve;
      });
      let listing!: () => void;
      const listed = new Promise<void>((resolve) => {
        listing = resolve;
      });
      gate.list = async () => {
        gate.list = undefined;
        listing();
        await hung;
        throw new Error('LIST refused by the test');
      };
      proxy.set({ kind: 'none' });
      await listed;
      // Synchronous: capture cannot move while these commits run, so what it holds stays held.
      const during: number[] = [];
      for (let i = 0; i < 150; i++) {
        commit(1);
        during.push(publishedWal(dbPath)?.mxFrame ?? Number.NaN);
      }
      release();
      assert.ok(Math.max(...during) < 250, `the WAL kept starting over while the LIST hung: ${during}`);

      for (let i = 0; i < 2000 && !events.some((e) => e.kind === 'generation'); i++) {
        ahead += 500; // the next try is 10 s after the failed one
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const generation = events.find((e) => e.kind === 'generation');
      assert.equal(generation?.reason, 'spool-overflow');
      assert.notEqual(capture.status().genId, firstGen);
      commit(10);
      await capture.flush();
      assert.equal(capture.status().state, 'healthy');

      const path = join(dir, 'latest.sqlite');
      await restorePitr({ store, keys: keySet(KEY_A), dbId, target: { kind: 'latest' }, path });
      const restored = new Database(path, { readonly: true });
      const rows = restored.prepare('SELECT count(*) AS n, max(v) AS top FROM t').get();
      restored.close();
      assert.deepEqual(rows, { n: v, top: v }, 'every commit is in the latest restore');
      const metas = (await store.list(dbPrefix(dbId))).filter((o) => parsePitrName(o.key)?.kind === 'meta');
      assert.equal(metas.length, 2);
    } finally {
      await capture.close({ ship: false });
      app.close();
      await proxy.close();
    }
  },
);
