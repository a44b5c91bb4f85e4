import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { before } from 'node:test';
import type { PitrListJson, PitrStatusJson } from '../../src/cli/commands/pitr.js';
import { LifeboatError } from '../../src/errors.js';
import { Lifeboat } from '../../src/lifeboat.js';
import { Capture, type CaptureOptions } from '../../src/pitr/capture/capture.js';
import { decodeMeta } from '../../src/pitr/meta.js';
import { dbPrefix, metaName, newDbId, type PitrName, parsePitrName } from '../../src/pitr/names.js';
import { restorePitr } from '../../src/pitr/restore/apply.js';
import { openObject } from '../../src/pitr/sealed.js';
import Database from '../../src/sqlite/driver.js';
import { runCli } from '../support/cli.js';
import { overriding } from '../support/observed-store.js';
import { getTestS3, localTest, s3Env, type TestS3 } from '../support/s3.js';
import { openConditionalStore } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { KEY_A, keySet } from './fixtures.js';

/**
 * Continuity across a restart of capture (spec §3.9), against the real S3 server: a start that
 * finds the database exactly where the bucket's chain ended continues that generation — no base,
 * no gap — whether the application kept its WAL open or closed it (a fresh WAL, other salts);
 * so does a start whose WAL still holds the chain's end and the commits after it (case A: made
 * while capture was down, or sealed and never shipped), which go into the chain flagged late;
 * a start after commits the bucket does not hold that a checkpoint moved out of the WAL, with a
 * WAL end the WAL does not hold, or with a state file behind the bucket, begins a new generation
 * instead, and nothing committed is lost either way.
 */

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

type Store = ReturnType<typeof openConditionalStore>;
type Connection = InstanceType<typeof Database>;

function walApp(dir: string, file = 'app.sqlite') {
  const dbPath = join(dir, file);
  const open = () => {
    const db = new Database(dbPath);
    db.pragma('journal_mode = WAL');
    return db;
  };
  const app = open();
  app.exec('CREATE TABLE t (v INTEGER PRIMARY KEY, pad BLOB)');
  return { dbPath, app, open };
}

/** Commits `from`…`to`, one row per transaction. */
function commit(app: Connection, from: number, to: number): void {
  const insert = app.prepare('INSERT INTO t VALUES (?, randomblob(300))');
  for (let v = from; v <= to; v++) insert.run(v);
}

function startCapture(dbPath: string, dbId: string, store: Store, extra: Partial<CaptureOptions> = {}) {
  return Capture.start({ dbPath, dbId, store, key: KEY_A, pollMs: 20, syncIntervalMs: 50, ...extra });
}

/** What a start did: went on with a generation, or began one (and why). */
async function started(dbPath: string, dbId: string, store: Store, extra: Partial<CaptureOptions> = {}) {
  const capture = await startCapture(dbPath, dbId, store, extra);
  // Both events are emitted inside start(), before a listener could be added: the bases shipped tell.
  const status = capture.status();
  const how = status.shipped.bases === 0 ? 'resumed' : 'generation';
  // What proved the resume: the WAL (case A) or the database as it was (case B); and the generations' reasons.
  const proof = status.resumes.wal ? 'wal' : status.resumes.database ? 'database' : undefined;
  return { capture, how, proof, genId: status.genId!, generations: status.generations, gapMs: status.lastGapMs };
}

async function objects(store: Store, dbId: string): Promise<PitrName[]> {
  return (await store.list(dbPrefix(dbId))).map((o) => parsePitrName(o.key)).filter((n) => n !== undefined);
}

/** Rows of `t` in a restore to `target`. */
async function restoredRows(
  store: Store,
  dbId: string,
  dir: string,
  target: Parameters<typeof restorePitr>[0]['target'],
  timeline?: number,
) {
  const path = join(dir, `r-${Math.random().toString(36).slice(2)}.sqlite`);
  await restorePitr({ store, keys: keySet(KEY_A), dbId, target, path, timeline });
  const db = new Database(path, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    return db.prepare('SELECT v FROM t ORDER BY v').pluck().all() as number[];
  } finally {
    db.close();
  }
}

const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** A generation's meta, opened. */
async function metaOf(store: Store, dbId: string, genId: string) {
  const name = metaName(dbId, genId);
  const sealed = await store.get(name);
  assert.ok(sealed, `${name} is in the bucket`);
  const plain = await openObject(sealed.body, keySet(KEY_A), { kind: 'LBM1', dbId, genId, n: 0, name });
  return decodeMeta(plain, { name, dbId, genId });
}

localTest('a clean restart continues the generation: no base, no gap, every transaction restorable', async () => {
  const dir = tempDir();
  const { dbPath, app, open } = walApp(dir);
  const store = openConditionalStore(await s3.place());
  const dbId = newDbId();

  const first = await started(dbPath, dbId, store);
  assert.equal(first.how, 'generation');
  assert.equal(first.generations['first-start'], 1);
  assert.equal(first.gapMs, undefined, 'a first start leaves no gap');
  commit(app, 1, 20);
  await first.capture.flush();
  await first.capture.close();
  const state = JSON.parse(readFileSync(join(`${dbPath}.lifeboat-pitr`, 'state.json'), 'utf8'));
  assert.equal(state.chain.genId, first.genId, 'the state file names where the chain ended');

  // The application keeps its connection (and its WAL, frames and all) while capture restarts.
  const second = await started(dbPath, dbId, store);
  assert.equal(second.how, 'resumed');
  assert.equal(second.proof, 'wal', 'the WAL kept by the application holds the chain’s end');
  assert.equal(second.genId, first.genId);
  commit(app, 21, 40);
  await second.capture.flush();
  await second.capture.close();

  // The application closes too: SQLite checkpoints and deletes the WAL; the next one has other salts.
  app.close();
  const reopened = open();
  const third = await started(dbPath, dbId, store);
  assert.equal(third.how, 'resumed');
  assert.equal(third.proof, 'database', 'the WAL was deleted: the database as it is proves it');
  commit(reopened, 41, 60);
  const last = await third.capture.flush();
  await third.capture.close();
  reopened.close();

  const names = await objects(store, dbId);
  assert.deepEqual(
    names.filter((n) => n.kind === 'base' || n.kind === 'meta').map((n) => n.kind),
    ['base', 'meta'],
    'one generation, one base',
  );
  const seqs = names.flatMap((n) => (n.kind === 'segment' ? [n.seq] : []));
  assert.deepEqual(seqs, upTo(seqs.length), 'segments 1…n without a hole');
  const base = names.find((n) => n.kind === 'base');
  assert.ok(base?.kind === 'base');
  assert.equal(last, base.txid + 60, 'each commit one txid, across both restarts');

  assert.deepEqual(await restoredRows(store, dbId, dir, { kind: 'latest' }), upTo(60));
  for (const k of [0, 1, 19, 20, 21, 39, 40, 41, 59, 60]) {
    assert.deepEqual(
      await restoredRows(store, dbId, dir, { kind: 'txid', txid: base.txid + k }),
      upTo(k),
      `txid +${k}`,
    );
  }
});

/**
 * A database whose capture shipped commits 1…10 and closed cleanly (`more` runs before the close,
 * with the capture still open).
 */
async function shippedTen(
  more?: (ctx: { capture: Capture; app: Connection; statePath: string }) => Promise<void>,
  captureStore: (store: Store) => Store = (store) => store,
) {
  const dir = tempDir();
  const { dbPath, app } = walApp(dir);
  const store = openConditionalStore(await s3.place());
  const dbId = newDbId();
  const first = await started(dbPath, dbId, captureStore(store));
  commit(app, 1, 10);
  await first.capture.flush();
  const statePath = join(`${dbPath}.lifeboat-pitr`, 'state.json');
  await more?.({ capture: first.capture, app, statePath });
  await first.capture.close({ ship: false });
  return { dir, dbPath, app, store, dbId, first, statePath };
}

/** Starts capture again, commits `from`…`to`, ships them, closes both; what the start did, and latest's rows. */
async function startAgain(
  ctx: Awaited<ReturnType<typeof shippedTen>>,
  from: number,
  to: number,
  extra: Partial<CaptureOptions> = {},
) {
  // The bucket as the start sees it, counting its LISTs.
  let lists = 0;
  const store = overriding(ctx.store, {
    list: (prefix, options) => {
      lists++;
      return ctx.store.list(prefix, options);
    },
  });
  const second = { ...(await started(ctx.dbPath, ctx.dbId, store, extra)), listsAtStart: lists };
  commit(ctx.app, from, to);
  await second.capture.flush();
  await second.capture.close();
  ctx.app.close();
  return { ...second, latest: await restoredRows(ctx.store, ctx.dbId, ctx.dir, { kind: 'latest' }) };
}

localTest(
  'commits made while capture was down are read from the WAL: the generation goes on, flagged late',
  async () => {
    const ctx = await shippedTen();
    const saved = JSON.parse(readFileSync(ctx.statePath, 'utf8')).chain;
    assert.ok(saved.wal, 'the state file says where the chain ends in the WAL');
    commit(ctx.app, 11, 15); // nobody ships these
    const second = await startAgain(ctx, 16, 20);
    assert.equal(second.how, 'resumed', 'case A: the WAL still holds the chain’s end and everything after it');
    assert.equal(second.proof, 'wal');
    assert.equal(second.genId, ctx.first.genId);
    assert.equal(second.listsAtStart, 1, 'one LIST at the start');
    const names = await objects(ctx.store, ctx.dbId);
    assert.equal(names.filter((n) => n.kind === 'meta').length, 1, 'no new generation');
    assert.deepEqual(second.latest, upTo(20));
    const base = names.find((n) => n.kind === 'base');
    assert.ok(base?.kind === 'base');
    for (const k of [10, 11, 13, 15, 16]) {
      assert.deepEqual(
        await restoredRows(ctx.store, ctx.dbId, ctx.dir, { kind: 'txid', txid: base.txid + k }),
        upTo(k),
      );
    }
    // Commits 11…15 were made at unknown times between the chain's last observation and the restart.
    await assert.rejects(
      restoredRows(ctx.store, ctx.dbId, ctx.dir, { kind: 'time', ms: saved.observedMs + 1 }),
      (err: unknown) => err instanceof LifeboatError && err.code === 'PITR_TARGET_UNRESTORABLE',
    );
    assert.deepEqual(
      await restoredRows(ctx.store, ctx.dbId, ctx.dir, { kind: 'time', ms: saved.observedMs }),
      upTo(10),
      'the chain’s last observation is exact',
    );
  },
);

localTest('segments sealed but not shipped when capture stopped are sealed again from the WAL', async () => {
  let down = false;
  let sent!: () => void;
  const sending = new Promise<void>((resolve) => {
    sent = resolve;
  });
  const ctx = await shippedTen(
    async ({ capture, app }) => {
      down = true;
      commit(app, 11, 20);
      // Sealed, and on its way to a bucket that does not answer: the flush ends once the segment is sent.
      const sealed = new AbortController();
      void sending.then(() => sealed.abort());
      await assert.rejects(capture.flush({ signal: sealed.signal }));
      assert.ok(capture.status().queuedBytes > 0, 'the segment is still waiting for the bucket');
      assert.equal(capture.status().shippedTxid, capture.status().lastTxid - 10);
    },
    (store) =>
      overriding(store, {
        putIfAbsent: (key, body, options) => {
          if (!down) return store.putIfAbsent(key, body, options);
          sent();
          return Promise.reject(new Error('S3 is down (injected)'));
        },
      }),
  );
  const second = await startAgain(ctx, 21, 25);
  assert.equal(second.how, 'resumed');
  assert.equal(second.proof, 'wal');
  assert.equal(second.genId, ctx.first.genId);
  assert.deepEqual(second.latest, upTo(25));
});

localTest(
  'commits the bucket lacks, checkpointed out of a WAL that restarted while capture was down: a new generation',
  async () => {
    const ctx = await shippedTen();
    commit(ctx.app, 11, 15);
    // The application's own checkpoint (capture holds no reader now) moves 11…15 into the database file;
    // commit 16 restarts the WAL over their frames.
    ctx.app.pragma('wal_checkpoint(RESTART)');
    commit(ctx.app, 16, 16);
    const second = await startAgain(ctx, 17, 20);
    assert.equal(second.how, 'generation', 'the database file holds commits after the chain’s end');
    assert.equal(second.generations['continuity-unproven'], 1);
    assert.ok(second.gapMs && second.gapMs > Date.now() - 60_000, 'the gap is dated');
    assert.notEqual(second.genId, ctx.first.genId);
    assert.deepEqual(second.latest, upTo(20));
  },
);

localTest(
  'a checkpoint that kept the WAL: the chain’s end is rebuilt from its frames, the generation goes on',
  async () => {
    const ctx = await shippedTen();
    commit(ctx.app, 11, 15);
    // Every page 11…15 wrote is in the frames before the chain's end too: the WAL still tells the database there.
    ctx.app.pragma('wal_checkpoint(PASSIVE)');
    // Checkpointed to its end, the WAL restarts at commit 16, and 16…60 overwrite the frames of 11…15 before
    // capture's first tick: it must have read them at its start.
    const second = await startAgain(ctx, 16, 60);
    assert.equal(second.how, 'resumed');
    assert.equal(second.proof, 'wal');
    const metas = (await objects(ctx.store, ctx.dbId)).filter((n) => n.kind === 'meta');
    assert.equal(metas.length, 1, 'one generation: nothing broke the chain after the start');
    assert.deepEqual(second.latest, upTo(60));
  },
);

localTest('checkpointed frames after the chain’s end beyond queueMax are not read in: a new generation', async () => {
  const ctx = await shippedTen();
  commit(ctx.app, 11, 15);
  ctx.app.pragma('wal_checkpoint(PASSIVE)');
  const second = await startAgain(ctx, 16, 20, { queueMax: 4096 });
  assert.equal(second.how, 'generation');
  assert.deepEqual(second.latest, upTo(20));
});

localTest(
  'a WAL restarted after the chain’s end, with commits only in the new epoch: the generation goes on',
  async () => {
    const ctx = await shippedTen();
    ctx.app.pragma('wal_checkpoint(RESTART)'); // all of the epoch into the database; the next commit starts over
    commit(ctx.app, 11, 15);
    const second = await startAgain(ctx, 16, 20);
    assert.equal(second.how, 'resumed');
    assert.equal(second.proof, 'wal');
    assert.deepEqual(second.latest, upTo(20));
  },
);

localTest('a saved WAL end the WAL does not hold (its checksum) is not trusted: a new generation', async () => {
  const ctx = await shippedTen();
  const state = JSON.parse(readFileSync(ctx.statePath, 'utf8'));
  state.chain.wal.s0 = (state.chain.wal.s0 + 1) >>> 0;
  writeFileSync(ctx.statePath, JSON.stringify(state));
  commit(ctx.app, 11, 15);
  const second = await startAgain(ctx, 16, 20);
  assert.equal(second.how, 'generation');
  assert.deepEqual(second.latest, upTo(20));
});

localTest('a state file behind the bucket never forks the chain: the next start begins a new generation', async () => {
  let behind = '';
  const ctx = await shippedTen(async ({ capture, app, statePath }) => {
    behind = readFileSync(statePath, 'utf8');
    commit(app, 11, 20);
    await capture.flush();
  });
  // As if the process had died before the newest state reached the disk (its segments did reach the bucket).
  writeFileSync(ctx.statePath, behind);
  const second = await startAgain(ctx, 21, 25);
  assert.equal(second.how, 'generation', 'the bucket holds segments after the saved end: not continued');
  assert.deepEqual(second.latest, upTo(25));
});

localTest('a last segment that does not open (tampered in the bucket) is not continued: a new generation', async () => {
  const ctx = await shippedTen();
  const keys = (await ctx.store.list(dbPrefix(ctx.dbId))).map((o) => o.key).filter((k) => k.endsWith('.lbs'));
  const last = keys.at(-1)!;
  const body = (await ctx.store.get(last))!.body;
  body[body.length - 40]! ^= 1;
  await ctx.store.delete(last);
  assert.equal((await ctx.store.putIfAbsent(last, body)).kind, 'written');
  const second = await startAgain(ctx, 11, 12);
  assert.equal(second.how, 'generation');
  assert.deepEqual(second.latest, upTo(12));
});

localTest(
  'the start after a restore to a point begins the restore’s generation: its parent, a new timeline, no gap',
  async () => {
    const cwd = tempDir();
    const dbPath = join(cwd, 'data/state_machine/db/hiqlite.db');
    mkdirSync(dirname(dbPath), { recursive: true });
    const { app } = walApp(dirname(dbPath), 'hiqlite.db');
    const config = await s3.place();
    const store = openConditionalStore(config);
    const dbId = newDbId();
    const first = await started(dbPath, dbId, store);
    commit(app, 1, 10);
    const point = await first.capture.flush();
    // Rows 11–20 are the branch the restore below leaves; a moment in the middle of it, once 11–15 are shipped.
    commit(app, 11, 15);
    await first.capture.flush();
    const midBranch = Date.now();
    // Times are whole milliseconds: rows 16–20 must be observed after this one, not within it.
    while (Date.now() <= midBranch) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    commit(app, 16, 20);
    await first.capture.flush();
    const abandonedAt = Date.now();
    await first.capture.close();
    app.close();

    // The operator's restore, through the CLI: the crash-safe swap and its marker beside the database.
    const env = {
      ...s3Env(config),
      HQL_DATA_DIR: join(cwd, 'data'),
      ENC_KEYS: `${KEY_A.id}/${KEY_A.key.toString('base64')}`,
      ENC_KEY_ACTIVE: KEY_A.id,
    };
    const restore = await runCli(['restore', '--pitr', `txid:${point}`], { cwd, env });
    assert.equal(restore.code, 0, restore.stderr);

    // The application opens the restored database (in WAL mode, as the one it replaced) and goes on.
    const reopened = new Database(dbPath);
    reopened.pragma('journal_mode = WAL');
    const second = await started(dbPath, dbId, store);
    assert.equal(second.how, 'generation');
    assert.equal(second.generations.restored, 1, JSON.stringify(second.generations));
    assert.equal(second.generations['continuity-unproven'], 0);
    assert.equal(second.gapMs, undefined, 'a restore is not a gap');
    const meta = await metaOf(store, dbId, second.genId);
    assert.equal(meta.reason, 'restored');
    assert.deepEqual(meta.parent, { genId: first.genId, txid: point });
    assert.equal(meta.timeline, 2);

    // The new timeline goes on from the restored rows; a later clean restart continues it, not a second restore's.
    commit(reopened, 21, 25);
    await second.capture.flush();
    await second.capture.close();
    const third = await started(dbPath, dbId, store);
    assert.equal(third.how, 'resumed');
    assert.equal(third.generations.restored, 0);
    await third.capture.close();
    // Without its state file the next start cannot go on: a new generation after a gap, on the restore's timeline.
    rmSync(join(`${dbPath}.lifeboat-pitr`, 'state.json'));
    const fourth = await started(dbPath, dbId, store);
    assert.equal(fourth.generations['first-start'], 1, JSON.stringify(fourth.generations));
    await fourth.capture.close();
    const after = await metaOf(store, dbId, fourth.genId);
    assert.deepEqual([after.reason, after.parent, after.timeline], ['first-start', null, 2]);
    reopened.close();
    assert.deepEqual(await restoredRows(store, dbId, cwd, { kind: 'latest' }), [...upTo(10), 21, 22, 23, 24, 25]);
    // Times before the restore, after the point: along the line of restores, the point restored — never rows of the
    // branch it left (in the middle of it, a time over every generation gives rows 1–15).
    assert.deepEqual(await restoredRows(store, dbId, cwd, { kind: 'time', ms: midBranch }), upTo(10));
    assert.deepEqual(await restoredRows(store, dbId, cwd, { kind: 'time', ms: abandonedAt }), upTo(10));
    assert.deepEqual(await restoredRows(store, dbId, cwd, { kind: 'txid', txid: point + 10 }), upTo(20), 'by txid');
    // The branch the restore left, by its timeline: its newest state and its times (an operator undoing the undo).
    assert.deepEqual(await restoredRows(store, dbId, cwd, { kind: 'latest' }, 1), upTo(20));
    assert.deepEqual(await restoredRows(store, dbId, cwd, { kind: 'time', ms: midBranch }, 1), upTo(15));
    assert.deepEqual(await restoredRows(store, dbId, cwd, { kind: 'time', ms: abandonedAt }, 1), upTo(20));
    assert.deepEqual(
      await restoredRows(store, dbId, cwd, { kind: 'latest' }, 2),
      [...upTo(10), 21, 22, 23, 24, 25],
      'the newest timeline is the default',
    );
    const timelines = `1 (newest generation ${first.genId}), 2 (newest generation ${fourth.genId})`;
    await assert.rejects(
      restoredRows(store, dbId, cwd, { kind: 'latest' }, 3),
      (err: LifeboatError) =>
        err.code === 'PITR_TARGET_UNRESTORABLE' &&
        err.message.includes(`no restorable generation on timeline 3: its timelines are ${timelines}`),
    );
    await assert.rejects(
      restoredRows(store, dbId, cwd, { kind: 'txid', txid: point }, 1),
      /a txid names one transaction/,
    );
    // `pitr status` tells the restore's generation from a gap (it reads the metas with the keys configured).
    const status = await runCli(['pitr', 'status', '--json', '--db-id', dbId], { cwd, env });
    const gaps = (JSON.parse(status.stdout) as PitrStatusJson).gaps;
    assert.deepEqual(
      gaps.filter((g) => g.kind === 'restore').map((g) => [g.branchedFrom, g.branchTimeline]),
      [[{ genId: first.genId, txid: point }, 1]],
      status.stdout,
    );
    // `pitr list` shows each generation's timeline, and where a restore's began.
    const list = await runCli(['pitr', 'list', '--json', '--db-id', dbId], { cwd, env });
    const listed = (JSON.parse(list.stdout) as PitrListJson).databases[0]!.generations;
    assert.deepEqual(
      listed.map((g) => [g.genId, g.timeline, g.parent]),
      [
        [first.genId, 1, null],
        [second.genId, 2, { genId: first.genId, txid: point }],
        [fourth.genId, 2, null],
      ],
    );
    const text = await runCli(['pitr', 'list', '--db-id', dbId], { cwd, env });
    assert.match(
      text.stdout,
      new RegExp(`timeline    2, from a restore to txid ${point} of generation ${first.genId}`),
    );
    // The CLI's restore resolves a time along the same line (on another host: this process keeps the database open)…
    const midTime = `time:${new Date(midBranch).toISOString()}`;
    const elsewhere = async (...args: string[]) => {
      const home = tempDir();
      const done = await runCli(['restore', '--pitr', ...args], {
        cwd: home,
        env: { ...env, HQL_DATA_DIR: join(home, 'data') },
      });
      assert.equal(done.code, 0, done.stderr);
      const restored = new Database(join(home, 'data/state_machine/db/hiqlite.db'), { readonly: true });
      try {
        return restored.prepare('SELECT v FROM t ORDER BY v').pluck().all();
      } finally {
        restored.close();
      }
    };
    assert.deepEqual(await elsewhere(midTime, '--db-id', dbId), upTo(10));
    // …and on the branch the restore left with --timeline (the drill and the restore).
    const drill = await runCli(['pitr', 'verify', midTime, '--timeline', '1', '--db-id', dbId, '--json'], { cwd, env });
    assert.equal(drill.code, 0, drill.stderr);
    assert.deepEqual(await elsewhere(midTime, '--timeline', '1', '--db-id', dbId), upTo(15));
    // …and at an application's start elsewhere, from HQL_BACKUP_RESTORE (written as the marker writes it).
    const home = tempDir();
    const restoreEnv = { HQL_DATA_DIR: join(home, 'data'), HQL_BACKUP_RESTORE: `pitr:${midTime} on timeline 1` };
    const there = await Lifeboat.open({
      cwd: home,
      env: { ...env, ...restoreEnv },
      schedule: false,
      backupOnStart: 'never',
    });
    try {
      assert.deepEqual(there.db.prepare('SELECT v FROM t ORDER BY v').pluck().all(), upTo(15));
    } finally {
      await there.close();
    }
  },
);
