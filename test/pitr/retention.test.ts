import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatDatabase } from '../../src/cli/commands/pitr.js';
import { LifeboatError } from '../../src/errors.js';
import { Capture } from '../../src/pitr/capture/capture.js';
import { FAULT_ENV } from '../../src/pitr/fault.js';
import { inspectDatabase } from '../../src/pitr/inspect.js';
import { dbPrefix, holdName, newDbId, newRandomId, parsePitrName } from '../../src/pitr/names.js';
import { restorePitr } from '../../src/pitr/restore/apply.js';
import { placeHold } from '../../src/pitr/restore/hold.js';
import Database from '../../src/sqlite/driver.js';
import type { PitrObjectStore } from '../../src/storage/object-store.js';
import { overriding } from '../support/observed-store.js';
import { getTestS3, type TestS3 } from '../support/s3.js';
import { openConditionalStore } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { KEY_A, keySet } from './fixtures.js';

/**
 * Restore work stays bounded and the bucket does not grow for ever, against the real S3 server:
 * once the segments outweigh the base, capture takes a new base inside the generation while it
 * goes on shipping (every transaction stays restorable); generations whose newest commit is
 * older than the window are deleted, never the current one, and inside the current one what only
 * restores points older than the window.
 */

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

async function generations(store: PitrObjectStore, dbId: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const o of await store.list(dbPrefix(dbId))) {
    const name = parsePitrName(o.key);
    if (name && 'genId' in name) out.set(name.genId, (out.get(name.genId) ?? 0) + 1);
  }
  return out;
}

function liveDb(dir: string) {
  const path = join(dir, 'app.sqlite');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, pad BLOB)');
  const insert = db.prepare('INSERT INTO t (k, pad) VALUES (?, randomblob(2000))');
  return { path, db, insert };
}

/**
 * A database whose continuous backup has one generation (one commit), its capture closed, and one
 * commit made after that and checkpointed out of the WAL: the next start cannot go on with that
 * generation, it begins another.
 */
async function oneOldGeneration(now?: () => number) {
  const app = liveDb(tempDir());
  const store = openConditionalStore(await s3.place());
  const dbId = newDbId();
  const first = await Capture.start({ dbPath: app.path, dbId, store, key: KEY_A, ...(now ? { now } : {}) });
  app.insert.run(1);
  await first.flush();
  await first.close();
  app.insert.run(-1);
  app.db.pragma('wal_checkpoint(TRUNCATE)');
  return { app, store, dbId, old: [...(await generations(store, dbId)).keys()] };
}

/**
 * `real`, except that the upload of the n-th base waits until the test lets it go: a base that
 * takes long (a large database) on demand, which a real server cannot be made to do.
 */
function holdingNthBase(real: PitrObjectStore, n: number) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started!: () => void;
  const holding = new Promise<void>((resolve) => {
    started = resolve;
  });
  let bases = 0;
  const store = overriding(real, {
    putStream: async (...args) => {
      if (++bases === n) {
        started();
        await released;
      }
      return real.putStream(...args);
    },
  });
  return { store, holding, release };
}

/**
 * `real`, whose server clock reads `now`: capture's clock and the S3 server's moved on together,
 * days passing, which a real server cannot be made to do on demand. (Capture's clock alone moved
 * is a wrong clock, and retention then deletes nothing: the tests of that use the real server's.)
 */
function atServerTime(real: PitrObjectStore, now: () => number): PitrObjectStore {
  return overriding(real, { serverTime: now });
}

interface RetentionEvent {
  readonly deleted: readonly string[];
  readonly superseded?: readonly string[];
  readonly held?: readonly string[];
  readonly skipped?: string;
  readonly failed?: string;
}

/** The next look of retention that did or refused something (not one that found nothing to delete). */
function nextRetention(capture: Capture): Promise<RetentionEvent> {
  return new Promise((resolve) => {
    const on = (e: RetentionEvent) => {
      if (e.deleted.length === 0 && !e.superseded && !e.held && e.skipped === undefined && !e.failed) return;
      capture.off('retention', on);
      resolve(e);
    };
    capture.on('retention', on);
  });
}

/** Eight days on (the default window is seven). */
const later = () => Date.now() + 8 * 86_400_000;

/**
 * A second capture of `app`'s database eight days later, its clock and the server's moved on
 * together; retention looks after every shipment, and no base is re-taken (a base is a shipment too).
 */
function captureLater(app: { path: string }, dbId: string, store: PitrObjectStore): Promise<Capture> {
  return Capture.start({
    dbPath: app.path,
    dbId,
    store: atServerTime(store, later),
    key: KEY_A,
    now: later,
    retentionEveryMs: 0,
    rebaseRatio: 1000,
  });
}

/** A restore of `txid` is refused: what held it was deleted. */
async function refusedTxid(store: PitrObjectStore, dbId: string, txid: number, dir: string): Promise<void> {
  await assert.rejects(
    restorePitr({
      store,
      keys: keySet(KEY_A),
      dbId,
      target: { kind: 'txid', txid },
      path: join(dir, `gone-${txid}-${newRandomId()}.sqlite`),
    }),
    /txid \d+ is outside what can be restored/,
  );
}

/** The newest k in a restore of `txid`, and the base the restore began from. */
async function restoredK(store: PitrObjectStore, dbId: string, txid: number, dir: string) {
  const path = join(dir, `r${txid}-${newRandomId()}.sqlite`);
  const got = await restorePitr({ store, keys: keySet(KEY_A), dbId, target: { kind: 'txid', txid }, path });
  assert.equal(got.txid, txid);
  const rows = new Database(path, { readonly: true });
  try {
    const base = parsePitrName(got.base);
    assert.ok(base?.kind === 'base', got.base);
    return { k: (rows.prepare('SELECT max(k) AS k FROM t').get() as { k: number | null }).k, baseTxid: base.txid };
  } finally {
    rows.close();
  }
}

test('segments outweigh the base: a new base inside the generation; shipping goes on while it uploads', async () => {
  const dir = tempDir();
  const app = liveDb(dir);
  const { store, holding, release } = holdingNthBase(openConditionalStore(await s3.place()), 2);
  const dbId = newDbId();
  // A base of a few pages: a handful of commits outweigh it.
  const capture = await Capture.start({ dbPath: app.path, dbId, store, key: KEY_A, rebaseRatio: 2, pollMs: 20 });
  const bases: Array<{ txid: number; afterSeq: number }> = [];
  capture.on('base', (b: { txid: number; afterSeq: number }) => bases.push(b));
  const txids: Array<{ txid: number; k: number }> = [];
  let k = 1;
  const commit = async () => {
    app.insert.run(k);
    txids.push({ txid: await capture.flush(), k: k++ });
  };
  let seen = false;
  void holding.then(() => {
    seen = true;
  });
  try {
    while (!seen) {
      assert.ok(k < 200, 'a second base began');
      await commit();
    }
    // Its upload is held: commits are shipped all the same (each flush waits for its segment).
    for (let n = 0; n < 5; n++) await commit();
    assert.equal(bases.length, 0, 'the held base is not in the bucket yet');
    const shipped = once(capture, 'base');
    release();
    await shipped;
    // Another one, not held.
    while (bases.length < 2) {
      assert.ok(k < 400, 'a third base');
      await commit();
      if (bases.length < 2) await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    release();
    await capture.close();
  }
  assert.equal(capture.status().shipped.bases, 3);
  assert.equal((await generations(store, dbId)).size, 1, 'one generation: no seam at a re-base');
  const [first, second] = bases as [{ txid: number; afterSeq: number }, { txid: number; afterSeq: number }];
  assert.ok(first.afterSeq > 0 && second.afterSeq > first.afterSeq, JSON.stringify(bases));
  // Every transaction restores, from whichever base is newest before it.
  for (const { txid, k: want } of txids) {
    const got = await restoredK(store, dbId, txid, dir);
    assert.equal(got.k, want, `txid ${txid}`);
    const from = txid >= second.txid ? second.txid : txid >= first.txid ? first.txid : undefined;
    if (from !== undefined) assert.equal(got.baseTxid, from, `txid ${txid} from the newest base before it`);
  }
  app.db.close();
});

test('pages rewritten over and over: the base follows the frames a restore applies, not the bytes stored', async () => {
  const dir = tempDir();
  const app = liveDb(dir);
  app.db.exec('CREATE TABLE hot (id INTEGER PRIMARY KEY, v INTEGER)');
  app.db.exec('INSERT INTO hot VALUES (1, 0)');
  for (let k = 1; k <= 50; k++) app.insert.run(k); // ~100 KB of random bytes: the base does not compress
  const update = app.db.prepare('UPDATE hot SET v = v + 1 WHERE id = 1');
  const dbBytes = () => Number(app.db.pragma('page_count', { simple: true })) * 4096;
  const store = openConditionalStore(await s3.place());
  const capture = await Capture.start({
    dbPath: app.path,
    dbId: newDbId(),
    store,
    key: KEY_A,
    rebaseRatio: 1,
    pollMs: 20,
  });
  // When the base is in the bucket: its txid, and the bytes stored in segments by then.
  let based: { txid: number; stored: number } | undefined;
  capture.once('base', (b: { txid: number }) => {
    based = { txid: b.txid, stored: capture.status().shipped.segmentBytes };
  });
  const first = await capture.flush();
  let commits = 0;
  try {
    // Each commit writes one page of the hot table (plus page 1's change counter): a frame or two of 4 KiB that
    // brotli stores in a few bytes. A database size of frames is ~30 commits; of stored bytes, hundreds.
    while (!based && commits < 600) {
      for (let n = 0; n < 5; n++, commits++) update.run();
      await capture.flush();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const got = based as { txid: number; stored: number } | undefined;
    assert.ok(got, `a base after ${commits} commits (the database ${dbBytes()} bytes)`);
    // The base is taken at a segment boundary once due; it reaches the bucket later (more so under load).
    assert.ok(got.txid - first <= 100, `the base holds ${got.txid - first} commits`);
    assert.ok(got.stored < dbBytes(), `the segments stored ${got.stored} bytes: by stored bytes, no base was due`);
  } finally {
    await capture.close();
    app.db.close();
  }
});

test('inside the generation, bases and segments that restore only points before the window are deleted', async () => {
  const dir = tempDir();
  const app = liveDb(dir);
  let offset = 0;
  const now = () => Date.now() + offset;
  const store = atServerTime(openConditionalStore(await s3.place()), now);
  const dbId = newDbId();
  const capture = await Capture.start({
    dbPath: app.path,
    dbId,
    store,
    key: KEY_A,
    rebaseRatio: 2,
    pollMs: 20,
    retentionEveryMs: 0,
    now,
  });
  const bases: Array<{ txid: number; afterSeq: number }> = [];
  capture.on('base', (b: { txid: number; afterSeq: number }) => bases.push(b));
  const txids: number[] = [];
  try {
    for (let k = 1; bases.length < 2; k++) {
      assert.ok(k < 400, 'two bases inside the generation');
      app.insert.run(k);
      txids.push(await capture.flush());
    }
    const before = await store.list(dbPrefix(dbId));
    // Eight days later (the default window is seven), one more commit: every base so far is older than
    // the window, so the newest of them restores every point inside it; what is older only serves older points.
    offset = 8 * 86_400_000;
    const retention = nextRetention(capture);
    app.insert.run(10_000);
    const last = await capture.flush();
    const event = await retention;
    assert.deepEqual(event.deleted, []);
    const keep = bases[1]!;
    const expected = before
      .filter((o) => {
        const name = parsePitrName(o.key);
        if (name?.kind === 'base') return name.txid < keep.txid;
        return name?.kind === 'segment' && name.lastTxid < keep.txid;
      })
      .map((o) => o.key);
    assert.ok(expected.length > 2);
    assert.deepEqual([...(event.superseded ?? [])].sort(), expected.sort());
    const left = new Set((await store.list(dbPrefix(dbId))).map((o) => o.key));
    for (const key of expected) assert.ok(!left.has(key), `${key} deleted`);
    assert.equal((await generations(store, dbId)).size, 1);
    // The kept base and what follows it still restore; what only the deleted objects held does not.
    assert.equal((await restoredK(store, dbId, last, dir)).k, 10_000);
    assert.equal((await restoredK(store, dbId, keep.txid, dir)).baseTxid, keep.txid);
    await refusedTxid(store, dbId, txids[0]!, dir);
  } finally {
    await capture.close();
    app.db.close();
  }
});

test('generations older than the window are deleted once something is shipped; the current one never', async () => {
  const { app, store, dbId, old } = await oneOldGeneration();
  assert.equal(old.length, 1);

  // Eight days later, with retention's default settings (it looks once something is shipped).
  const second = await Capture.start({
    dbPath: app.path,
    dbId,
    store: atServerTime(store, later),
    key: KEY_A,
    now: later,
  });
  try {
    const current = second.status().genId!;
    assert.deepEqual([...(await generations(store, dbId)).keys()].sort(), [...old, current].sort());
    const deleted = nextRetention(second);
    app.insert.run(2);
    await second.flush();
    assert.deepEqual(await deleted, { deleted: old });
    assert.deepEqual([...(await generations(store, dbId)).keys()], [current], 'only the current generation is left');
    assert.equal(second.status().retention.deleted, 1);
  } finally {
    await second.close();
    app.db.close();
  }
});

const CAPTURE_CHILD = fileURLToPath(new URL('../support/capture-child.ts', import.meta.url));

const killedDuringRetention =
  'capture killed while retention deletes: an expired generation is left as its meta, restores nothing, ' +
  'and the next look deletes it';
test(killedDuringRetention, async () => {
  const dir = tempDir();
  const app = liveDb(dir);
  const config = await s3.place();
  const store = openConditionalStore(config);
  const dbId = newDbId();
  // Two generations to expire, each a meta, a base and a segment.
  const txids: number[] = [];
  for (const k of [1, 2]) {
    const capture = await Capture.start({ dbPath: app.path, dbId, store, key: KEY_A });
    app.insert.run(k);
    txids.push(await capture.flush());
    await capture.close();
    app.insert.run(-k);
    app.db.pragma('wal_checkpoint(TRUNCATE)');
  }
  const old = [...(await generations(store, dbId)).keys()];
  assert.equal(old.length, 2);

  // Capture in a process of its own with a window of 1 ms: its first look expires both generations, and
  // it dies between retention's two requests, as a kill there would.
  const workDir = join(dir, 'pitr');
  const setup = { s3: config, dbId, key: { id: KEY_A.id, key: KEY_A.key.toString('base64') }, windowMs: 1 };
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CAPTURE_CHILD, app.path, workDir, JSON.stringify({ ...setup, retentionEveryMs: 0 })],
    { env: { ...process.env, [FAULT_ENV]: 'during-retention' }, stdio: ['pipe', 'ignore', 'inherit'] },
  );
  const [code, signal] = await once(child, 'exit');
  assert.equal(signal, 'SIGKILL', `capture died at during-retention (exit ${code})`);
  const left = (await store.list(dbPrefix(dbId))).map((o) => parsePitrName(o.key));
  for (const genId of old) {
    const kinds = left.filter((n) => n && 'genId' in n && n.genId === genId).map((n) => n?.kind);
    assert.deepEqual(kinds, ['meta'], `generation ${genId}: its meta alone`);
  }
  const listed = formatDatabase(inspectDatabase(dbId, await store.list(dbPrefix(dbId))));
  for (const genId of old) {
    assert.match(
      listed,
      new RegExp(`generation ${genId} .*\\n {4}base {8}none: nothing of this generation is restorable`),
    );
  }
  await refusedTxid(store, dbId, txids[0]!, dir);

  // The next start (the same work folder: it goes on where the dead one was) deletes the metas.
  const next = await Capture.start({
    dbPath: app.path,
    dbId,
    store,
    key: KEY_A,
    workDir,
    windowMs: 1,
    retentionEveryMs: 0,
  });
  try {
    const deleted = nextRetention(next);
    app.insert.run(3);
    const last = await next.flush();
    assert.deepEqual([...(await deleted).deleted].sort(), [...old].sort());
    const genIds = [...(await generations(store, dbId)).keys()];
    assert.deepEqual(genIds, [next.status().genId], 'only the current generation is left');
    assert.equal((await restoredK(store, dbId, last, dir)).k, 3);
  } finally {
    await next.close();
    app.db.close();
  }
});

test('a restore’s hold pauses retention; a hold whose restore died runs out and is removed', async () => {
  const { app, store, dbId, old } = await oneOldGeneration();

  // A restore is running (its hold in force) when the writer, eight days later, looks at retention.
  const hold = await placeHold(atServerTime(store, later), dbId);
  const second = await captureLater(app, dbId, store);
  try {
    const current = second.status().genId!;
    const held = nextRetention(second);
    app.insert.run(2);
    await second.flush();
    assert.deepEqual(await held, { deleted: [], held: [hold.key] });
    assert.deepEqual([...(await generations(store, dbId)).keys()].sort(), [...old, current].sort(), 'nothing deleted');

    // The restore ends; another one died with its hold in the bucket, which has run out.
    await hold.release();
    const dead = holdName(dbId, newRandomId());
    await store.putIfAbsent(dead, Buffer.from(JSON.stringify({ expiresMs: 1 })));
    const deleted = nextRetention(second);
    app.insert.run(3);
    await second.flush();
    assert.deepEqual(await deleted, { deleted: old });
    assert.deepEqual([...(await generations(store, dbId)).keys()], [current]);
    assert.equal(await store.get(dead), undefined, 'the expired hold is removed');
  } finally {
    await second.close();
    app.db.close();
  }
});

test('a clock that jumped ahead of the S3 server’s deletes nothing, and says why', async () => {
  const { app, store, dbId, old } = await oneOldGeneration();
  // This machine's clock alone eight days on (the server's is right): every other generation would expire.
  const ahead = () => Date.now() + 8 * 86_400_000;
  const second = await Capture.start({ dbPath: app.path, dbId, store, key: KEY_A, now: ahead, rebaseRatio: 1000 });
  try {
    const current = second.status().genId!;
    const refused = nextRetention(second);
    app.insert.run(2);
    await second.flush();
    const event = await refused;
    assert.deepEqual(event.deleted, []);
    assert.match(event.skipped ?? '', /this machine's clock is 11520 min ahead of the S3 server's.*fix the clock/);
    const offsetMs = second.status().clockOffsetMs ?? Number.NaN;
    assert.ok(Math.abs(offsetMs + 8 * 86_400_000) < 60_000, `measured offset ${offsetMs} ms`);
    assert.deepEqual([...(await generations(store, dbId)).keys()].sort(), [...old, current].sort(), 'nothing deleted');
  } finally {
    await second.close();
    app.db.close();
  }
});

test('a generation written while the clock was behind is as old as the bucket says, not its names', async () => {
  // The first capture's clock was eight days behind: its names say a week ago; the bucket dates them now.
  const { app, store, dbId, old } = await oneOldGeneration(() => Date.now() - 8 * 86_400_000);
  const named = (await store.list(dbPrefix(dbId))).map((o) => parsePitrName(o.key));
  assert.ok(
    named.some((n) => n?.kind === 'base' && n.ms < Date.now() - 7 * 86_400_000),
    'named before the window',
  );
  const second = await Capture.start({
    dbPath: app.path,
    dbId,
    store,
    key: KEY_A,
    retentionEveryMs: 0,
    rebaseRatio: 1000,
  });
  try {
    const current = second.status().genId!;
    const looked = once(second, 'retention');
    app.insert.run(2);
    await second.flush();
    assert.deepEqual((await looked)[0], { deleted: [] });
    assert.deepEqual([...(await generations(store, dbId)).keys()].sort(), [...old, current].sort(), 'kept');
  } finally {
    await second.close();
    app.db.close();
  }
});

test('a store that may not delete: retention fails, counts it, deletes nothing; it goes on once it may', async () => {
  const { app, store, dbId, old } = await oneOldGeneration();
  // Credentials that may write but not delete (radosgw's test user may do both: the refusal is injected).
  let mayDelete = false;
  const refusing = overriding(store, {
    deleteMany: (keys, options) =>
      mayDelete
        ? store.deleteMany(keys, options)
        : Promise.reject(new LifeboatError('S3_ERROR', 'S3 delete: AccessDenied')),
  });
  const second = await captureLater(app, dbId, refusing);
  try {
    const current = second.status().genId!;
    const failed = nextRetention(second);
    app.insert.run(2);
    await second.flush();
    assert.match((await failed).failed ?? '', /AccessDenied/);
    assert.equal(second.status().retention.failed, 1);
    assert.equal(second.status().retention.deleted, 0);
    assert.deepEqual([...(await generations(store, dbId)).keys()].sort(), [...old, current].sort(), 'nothing deleted');

    mayDelete = true;
    const deleted = nextRetention(second);
    app.insert.run(3);
    await second.flush();
    assert.deepEqual(await deleted, { deleted: old });
    assert.equal(second.status().retention.deleted, 1);
  } finally {
    await second.close();
    app.db.close();
  }
});
