// `lifeboat pitr status|list` through the real CLI, on objects the real capture put in the real
// S3 server: a live WAL-mode SQLite database, Capture.start, commits, flush(), close().
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { PitrListJson, PitrStatusJson } from '../../src/cli/commands/pitr.js';
import type { S3Config } from '../../src/config/types.js';
import { Capture } from '../../src/pitr/capture/capture.js';
import { dbPrefix, newDbId, parsePitrName } from '../../src/pitr/names.js';
import { planRestore } from '../../src/pitr/restore/plan.js';
import Database from '../../src/sqlite/driver.js';
import type { S3ConditionalStore } from '../../src/storage/s3/conditional.js';
import { type CliResult, runCli } from '../support/cli.js';
import { getTestS3, s3Env, type TestS3 } from '../support/s3.js';
import { openConditionalStore } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { KEY_A } from './fixtures.js';

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const KEYS = { ENC_KEYS: `${KEY_A.id}/${KEY_A.key.toString('base64')}`, ENC_KEY_ACTIVE: KEY_A.id };

/** An application's WAL-mode database with one table, and its connection. */
function appDatabase(): { path: string; db: InstanceType<typeof Database> } {
  const path = join(tempDir(), 'app.sqlite');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT)');
  return { path, db };
}

/**
 * One capture run (one generation): `batches[i]` commits, each batch sealed and shipped by
 * flush() before the next begins, so each batch ends a segment. Returns the last shipped txid.
 */
async function captureRun(
  app: { path: string; db: InstanceType<typeof Database> },
  store: S3ConditionalStore,
  dbId: string,
  batches: readonly number[],
  now?: () => number,
): Promise<number> {
  const capture = await Capture.start({
    dbPath: app.path,
    dbId,
    store,
    key: KEY_A,
    pollMs: 20,
    syncIntervalMs: 50,
    ...(now ? { now } : {}),
  });
  let last = 0;
  try {
    const insert = app.db.prepare('INSERT INTO items (body) VALUES (?)');
    for (const n of batches) {
      for (let i = 0; i < n; i++) insert.run(`row ${i}`);
      last = await capture.flush();
    }
  } finally {
    await capture.close();
  }
  return last;
}

function cli(config: S3Config, args: readonly string[]): Promise<CliResult> {
  return runCli(['pitr', ...args], { cwd: tempDir(), env: { ...s3Env(config), ...KEYS } });
}

function json<T extends PitrListJson | PitrStatusJson>(r: CliResult): T {
  assert.notEqual(r.stdout, '', r.stderr);
  return JSON.parse(r.stdout) as T;
}
const statusOf = (r: CliResult) => json<PitrStatusJson>(r);
const listOf = (r: CliResult) => json<PitrListJson>(r);

function noSecrets(config: S3Config, ...results: CliResult[]): void {
  for (const r of results) assert.ok(!(r.stdout + r.stderr).includes(config.secret), 'the S3 secret was printed');
}

test('status and list show what capture shipped, with the planner’s ranges; exit 0, and 5 past --max-age', async () => {
  const config = await s3.place();
  const store = openConditionalStore(config);
  const app = appDatabase();
  const dbId = newDbId();
  const last = await captureRun(app, store, dbId, [3, 4, 5]);
  app.db.close();

  const status = await cli(config, ['status']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`database  ${dbId} in `));
  assert.match(status.stdout, new RegExp(`newest    txid ${last} \\(`));
  assert.match(status.stdout, /status {4}ok/);
  assert.match(status.stdout, /lifeboat verify pitr:latest/);
  // The drill it names, also as `pitr verify`: restores the newest transaction into a temp folder.
  const verify = await cli(config, ['verify']);
  assert.equal(verify.code, 0, verify.stderr);
  assert.match(verify.stdout, new RegExp(`backup     pitr:${dbId}/[0-9a-f]{32}/${last}\\n`));
  assert.match(verify.stdout, /integrity {2}ok/);
  const badPoint = await cli(config, ['verify', 'txid:soon']);
  assert.equal(badPoint.code, 2, badPoint.stderr);

  const s = statusOf(await cli(config, ['status', '--json', '--max-age', '10m']));
  const planned = planRestore(dbId, await store.list(dbPrefix(dbId)), { kind: 'latest' });
  assert.equal(s.ok, true);
  assert.deepEqual(s.problems, []);
  assert.equal(s.dbId, dbId);
  assert.equal(s.maxAgeSeconds, 600);
  assert.equal(s.newest?.txid, last);
  assert.equal(s.latest?.txid, last);
  assert.equal(s.oldest?.txid, planned.base.txid, 'the oldest point is the base');
  const age = s.newest!.ageSeconds;
  assert.ok(age >= 0 && age < 600, `age ${age}`);
  assert.deepEqual(s.gaps, []);
  assert.equal(s.remote?.bucket, config.bucket);

  const l = listOf(await cli(config, ['list', '--json']));
  assert.equal(l.databases.length, 1);
  const d = l.databases[0]!;
  assert.equal(d.dbId, dbId);
  assert.equal(d.generations.length, 1);
  const g = d.generations[0]!;
  assert.equal(g.genId, planned.genId);
  assert.equal(g.hasMeta, true);
  assert.deepEqual(
    g.bases.map((b) => b.txid),
    [planned.base.txid],
  );
  assert.equal(g.segments.count, planned.segments.length);
  assert.ok(g.segments.count >= 3, `one segment per flushed batch at least (${g.segments.count})`);
  assert.equal(g.last?.txid, last);
  assert.deepEqual(g.holes, []);
  assert.deepEqual(
    d.ranges.map((r) => [r.from.txid, r.to.txid]),
    planned.ranges.map((r) => [r.fromTxid, r.toTxid]),
  );
  const listed = await store.list(dbPrefix(dbId));
  assert.equal(d.objects, listed.length);
  assert.equal(
    d.bytes,
    listed.reduce((n, o) => n + o.size, 0),
  );
  assert.ok(Date.parse(g.createdAt) <= Date.parse(g.bases[0]!.observedAt), 'created (from the genId) before the base');

  // A second database whose capture observed its commits two hours ago: restorable, but stale.
  const old = appDatabase();
  const oldId = newDbId();
  const oldLast = await captureRun(old, store, oldId, [2], () => Date.now() - 2 * 3_600_000);
  old.db.close();
  const stale = await cli(config, ['status', '--db-id', oldId, '--max-age', '5m']);
  assert.equal(stale.code, 5, stale.stderr);
  assert.match(stale.stdout, new RegExp(`drill     lifeboat verify pitr:latest --db-id ${oldId} `));
  assert.match(stale.stdout, new RegExp(`PROBLEM: the newest restorable transaction, txid ${oldLast} .*--max-age 5m`));
  const staleJson = await cli(config, ['status', '--db-id', oldId, '--max-age', '5m', '--json']);
  assert.equal(staleJson.code, 5);
  assert.equal(statusOf(staleJson).ok, false);
  assert.ok(statusOf(staleJson).newest!.ageSeconds >= 7000);
  assert.equal((await cli(config, ['status', '--db-id', oldId, '--max-age', '3h'])).code, 0);
  assert.equal((await cli(config, ['status', '--db-id', oldId])).code, 0, 'no --max-age: age is not checked');

  // Two databases now: list shows both; status needs --db-id, as restore --pitr does.
  const both = listOf(await cli(config, ['list', '--json']));
  assert.deepEqual(both.databases.map((x) => x.dbId).sort(), [dbId, oldId].sort());
  const one = listOf(await cli(config, ['list', '--json', '--db-id', oldId]));
  assert.deepEqual(
    one.databases.map((x) => x.dbId),
    [oldId],
  );
  const ambiguous = await cli(config, ['status']);
  assert.equal(ambiguous.code, 2);
  assert.match(ambiguous.stderr, /holds continuous backups of 2 databases .*--db-id/);
  // The drill names the database the same way.
  const env = { ...s3Env(config), ...KEYS };
  const drillBoth = await runCli(['verify', 'pitr:latest'], { cwd: tempDir(), env });
  assert.equal(drillBoth.code, 2);
  assert.match(drillBoth.stderr, /name the one to restore with --db-id/);
  const drill = await runCli(['verify', 'pitr:latest', '--db-id', oldId, '--json'], { cwd: tempDir(), env });
  assert.equal(drill.code, 0, drill.stderr);
  assert.equal(JSON.parse(drill.stdout).origin, `pitr:${oldId}/${one.databases[0]!.generations[0]!.genId}/${oldLast}`);
  assert.equal((await runCli(['verify', 's3:latest', '--db-id', oldId], { cwd: tempDir(), env })).code, 2);
  const text = await cli(config, ['list']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`database ${dbId} `));
  assert.match(text.stdout, new RegExp(`database ${oldId} `));
  assert.match(text.stdout, /segments {4}\d+ \(seq 1–\d+\)/);
  noSecrets(config, status, stale, text, ambiguous);
});

test('a second generation and a hole: list shows the missing seq and its bounds, status the gaps, exit 5', async () => {
  const config = await s3.place();
  const store = openConditionalStore(config);
  const app = appDatabase();
  const dbId = newDbId();
  const firstLast = await captureRun(app, store, dbId, [2, 2]);
  // Committed while nothing captures, and checkpointed out of the WAL: in the next generation's base,
  // not restorable one by one.
  app.db.prepare("INSERT INTO items (body) VALUES ('unshipped')").run();
  app.db.pragma('wal_checkpoint(TRUNCATE)');
  await captureRun(app, store, dbId, [2, 2, 2, 2]);
  app.db.close();

  const whole = statusOf(await cli(config, ['status', '--json']));
  assert.equal(whole.ok, true, whole.problems.join('; '));
  assert.equal(whole.windows.length, 2);
  assert.equal(whole.gaps.length, 1);
  const gap = whole.gaps[0]!;
  assert.equal(gap.kind, 'generation');
  assert.equal(gap.from.txid, firstLast);
  assert.notEqual(gap.from.genId, gap.to.genId);

  // Take segment seq 2 of the newer generation away.
  const listed = await store.list(dbPrefix(dbId));
  const newer = whole.windows[1]!.genId;
  const segs = listed.flatMap((o) => {
    const name = parsePitrName(o.key);
    return name?.kind === 'segment' && name.genId === newer ? [{ ...name, key: o.key }] : [];
  });
  assert.ok(segs.length >= 4, `segments of the newer generation: ${segs.length}`);
  const [s1, s2, s3rd] = segs;
  assert.deepEqual([s1!.seq, s2!.seq, s3rd!.seq], [1, 2, 3]);
  await store.delete(s2!.key);

  const l = listOf(await cli(config, ['list', '--json']));
  const db = l.databases[0]!;
  const g = db.generations.find((x) => x.genId === newer);
  assert.deepEqual(g?.holes, [
    {
      fromSeq: 2,
      toSeq: 2,
      before: { seq: 1, txid: s1!.lastTxid, observedAt: new Date(s1!.lastMs).toISOString() },
      after: { seq: 3, txid: s3rd!.lastTxid, observedAt: new Date(s3rd!.lastMs).toISOString() },
    },
  ]);
  assert.equal(db.latest, null);
  assert.equal(db.latestRefused?.code, 'PITR_CHAIN_GAP');
  const text = await cli(config, ['list']);
  assert.match(
    text.stdout,
    new RegExp(
      `hole        seq 2 missing: seq 1 ends at txid ${s1!.lastTxid} \\(.*\\), seq 3 ends at txid ${s3rd!.lastTxid} `,
    ),
  );

  const status = await cli(config, ['status']);
  assert.equal(status.code, 5, status.stderr);
  assert.match(
    status.stdout,
    new RegExp(`newest    txid ${s1!.lastTxid} \\(`),
    'the newest restorable is before the hole',
  );
  assert.match(status.stdout, /PROBLEM: restore --pitr latest is refused: .*segment seq 2 is missing/);
  assert.match(status.stdout, /shipped {3}up to txid \d+ .*beyond the newest restorable transaction/);
  assert.match(status.stdout, new RegExp(`drill     lifeboat verify pitr:txid:${s1!.lastTxid} \\(`));
  // What status calls refused, restore refuses; what it calls restorable, the drill restores.
  const env = { ...s3Env(config), ...KEYS };
  const refused = await runCli(['restore', '--pitr', 'latest'], { cwd: tempDir(), env });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /segment seq 2 is missing/);
  const drill = await runCli(['verify', `pitr:txid:${s1!.lastTxid}`], { cwd: tempDir(), env });
  assert.equal(drill.code, 0, drill.stderr);
  assert.match(drill.stdout, /integrity\s+ok/);
});

test('nothing restorable exits 4; bad --db-id and --max-age exit 2; the help names the drill', async () => {
  const config = await s3.place();
  const empty = await cli(config, ['status']);
  assert.equal(empty.code, 4);
  assert.match(empty.stderr, /there is no continuous backup/);
  const absent = await cli(config, ['status', '--db-id', newDbId(), '--json']);
  assert.equal(absent.code, 4);
  assert.equal(statusOf(absent).ok, false);
  assert.equal(statusOf(absent).newest, null);
  const list = await cli(config, ['list']);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /no continuous backup \(lifeboat-pitr\/…\) here/);
  assert.equal((await cli(config, ['status', '--db-id', 'nope'])).code, 2);
  assert.equal((await cli(config, ['list', '--db-id', 'ABC'])).code, 2);
  const badAge = await cli(config, ['status', '--max-age', 'soon']);
  assert.equal(badAge.code, 2);
  assert.match(badAge.stderr, /--max-age "soon" is not a duration/);
  // --timeline: a whole number, with latest or a time of continuous backup only; refused before anything is read.
  for (const [args, said] of [
    [['restore', '--pitr', 'txid:5', '--timeline', '1'], /a txid names one transaction on whichever timeline/],
    [['restore', '--pitr', 'latest', '--timeline', 'x'], /timeline "x" is not a whole number from 1/],
    [['restore', '--pitr', 'latest', '--timeline', '0'], /timeline 0 is not a whole number from 1/],
    [['restore', 's3:latest', '--timeline', '1'], /--timeline goes with --pitr/],
    [['verify', 'local:latest', '--timeline', '1'], /--timeline goes with a pitr: source/],
    [['pitr', 'verify', 'txid:3', '--timeline', '2'], /a txid names one transaction/],
  ] as const) {
    const refused = await runCli([...args], { cwd: tempDir(), env: { ...s3Env(config), ...KEYS } });
    assert.equal(refused.code, 2, `${args.join(' ')}: ${refused.stderr}`);
    assert.match(refused.stderr, said);
  }
  const help = await runCli(['pitr', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /lifeboat pitr verify \[latest\]/);
  assert.match(help.stdout, /no base or segment is downloaded/);
  const statusHelp = await runCli(['pitr', 'status', '--help']);
  assert.match(statusHelp.stdout, /Exit codes: 0 .* 4 nothing .* 5 restorable/s);
  noSecrets(config, empty, absent, list);
});
