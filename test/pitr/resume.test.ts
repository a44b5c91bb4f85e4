import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before } from 'node:test';
import { Capture, type CaptureOptions } from '../../src/pitr/capture/capture.js';
import { dbPrefix, newDbId, type PitrName, parsePitrName } from '../../src/pitr/names.js';
import { restorePitr } from '../../src/pitr/restore/apply.js';
import Database from '../../src/sqlite/driver.js';
import { overriding } from '../support/observed-store.js';
import { getTestS3, localTest, type TestS3 } from '../support/s3.js';
import { openConditionalStore } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { KEY_A, keySet } from './fixtures.js';

/**
 * Continuity across a restart of capture (spec §3.9), against the real S3 server: a start that
 * finds the database exactly where the bucket's chain ended continues that generation — no base,
 * no gap — whether the application kept its WAL open or closed it (a fresh WAL, other salts);
 * a start after commits the bucket does not hold, or with a state file behind the bucket,
 * begins a new generation instead, and nothing committed is lost either way.
 */

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

type Store = ReturnType<typeof openConditionalStore>;
type Connection = InstanceType<typeof Database>;

function walApp(dir: string) {
  const dbPath = join(dir, 'app.sqlite');
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
async function started(dbPath: string, dbId: string, store: Store) {
  const capture = await startCapture(dbPath, dbId, store);
  // Both events are emitted inside start(), before a listener could be added: the bases shipped tell.
  const status = capture.status();
  return { capture, how: status.shipped.bases === 0 ? 'resumed' : 'generation', genId: status.genId! };
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
) {
  const path = join(dir, `r-${Math.random().toString(36).slice(2)}.sqlite`);
  await restorePitr({ store, keys: keySet(KEY_A), dbId, target, path });
  const db = new Database(path, { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    return db.prepare('SELECT v FROM t ORDER BY v').pluck().all() as number[];
  } finally {
    db.close();
  }
}

const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

localTest('a clean restart continues the generation: no base, no gap, every transaction restorable', async () => {
  const dir = tempDir();
  const { dbPath, app, open } = walApp(dir);
  const store = openConditionalStore(await s3.place());
  const dbId = newDbId();

  const first = await started(dbPath, dbId, store);
  assert.equal(first.how, 'generation');
  commit(app, 1, 20);
  await first.capture.flush();
  await first.capture.close();
  const state = JSON.parse(readFileSync(join(`${dbPath}.lifeboat-pitr`, 'state.json'), 'utf8'));
  assert.equal(state.chain.genId, first.genId, 'the state file names where the chain ended');

  // The application keeps its connection (and its WAL, frames and all) while capture restarts.
  const second = await started(dbPath, dbId, store);
  assert.equal(second.how, 'resumed');
  assert.equal(second.genId, first.genId);
  commit(app, 21, 40);
  await second.capture.flush();
  await second.capture.close();

  // The application closes too: SQLite checkpoints and deletes the WAL; the next one has other salts.
  app.close();
  const reopened = open();
  const third = await started(dbPath, dbId, store);
  assert.equal(third.how, 'resumed');
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
async function shippedTen(more?: (ctx: { capture: Capture; app: Connection; statePath: string }) => Promise<void>) {
  const dir = tempDir();
  const { dbPath, app } = walApp(dir);
  const store = openConditionalStore(await s3.place());
  const dbId = newDbId();
  const first = await started(dbPath, dbId, store);
  commit(app, 1, 10);
  await first.capture.flush();
  const statePath = join(`${dbPath}.lifeboat-pitr`, 'state.json');
  await more?.({ capture: first.capture, app, statePath });
  await first.capture.close();
  return { dir, dbPath, app, store, dbId, first, statePath };
}

/** Starts capture again, commits `from`…`to`, ships them, closes both; what the start did, and latest's rows. */
async function startAgain(ctx: Awaited<ReturnType<typeof shippedTen>>, from: number, to: number) {
  // The bucket as the start sees it, counting its LISTs.
  let lists = 0;
  const store = overriding(ctx.store, {
    list: (prefix, options) => {
      lists++;
      return ctx.store.list(prefix, options);
    },
  });
  const second = { ...(await started(ctx.dbPath, ctx.dbId, store)), listsAtStart: lists };
  commit(ctx.app, from, to);
  await second.capture.flush();
  await second.capture.close();
  ctx.app.close();
  return { ...second, latest: await restoredRows(ctx.store, ctx.dbId, ctx.dir, { kind: 'latest' }) };
}

localTest('commits made while capture was down begin a new generation, and none is lost', async () => {
  const ctx = await shippedTen();
  commit(ctx.app, 11, 15); // nobody ships these
  const second = await startAgain(ctx, 16, 20);
  assert.equal(second.how, 'generation');
  assert.equal(second.listsAtStart, 1, 'one LIST for the refused resume and the new generation it begins');
  assert.notEqual(second.genId, ctx.first.genId);
  const metas = (await objects(ctx.store, ctx.dbId)).filter((n) => n.kind === 'meta');
  assert.equal(metas.length, 2);
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
