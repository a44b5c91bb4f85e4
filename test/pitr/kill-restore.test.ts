import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { before } from 'node:test';
import { dbPrefix, newDbId, parsePitrName } from '../../src/pitr/names.js';
import { restorePitr } from '../../src/pitr/restore/apply.js';
import { getTestS3, localTest, type TestS3 } from '../support/s3.js';
import { openConditionalStore } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';
import { KEY_A, keySet, rng } from './fixtures.js';
import { type LineProcess, modelAfter, rowsOf, spawnScript, startWriter } from './model.js';

/**
 * The proof of continuous backup (issue #17, item 6), against the real S3 server: an
 * application process commits the whole time while Lifeboat's capture, in a process of its own,
 * is killed with SIGKILL at random moments (after a random number of acknowledged segments, so
 * mid-seal, mid-upload or mid-checkpoint) and started again. Afterwards every restore — of every
 * generation, at random transaction ids and at `latest` — holds exactly the rows the
 * application had after one of its commits (nothing missing, nothing invented, integrity ok),
 * transaction ids map to commits in order, every transaction acknowledged before a kill is
 * restorable, and `latest` after the final flush is the application's last commit.
 */

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const ROUNDS = 4;

localTest('kill -9 at random moments while the application commits: every restore is exactly one commit', async () => {
  const dir = tempDir();
  const dbPath = join(dir, 'app.sqlite');
  const config = await s3.place();
  const store = openConditionalStore(config);
  const dbId = newDbId();
  const random = rng(Number(process.env.LIFEBOAT_TEST_SEED ?? 17));
  const setup = JSON.stringify({ s3: config, dbId, key: { id: KEY_A.id, key: KEY_A.key.toString('base64') } });
  const startCapture = () => spawnScript('capture-child.ts', [dbPath, join(dir, 'pitr'), setup]);

  const writer = startWriter(dbPath, 1_000_000, 100, 8);
  assert.equal(await writer.line(), 'ready');
  writer.send('go');

  /** The last txid each killed generation had acknowledged before its kill. */
  const acknowledged: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const capture = startCapture();
    assert.match(await capture.line(), /^started [0-9a-f]{32} \d+$/);
    const kills = 1 + Math.floor(random() * 6);
    let last = 0;
    for (let seen = 0; seen < kills; seen++) last = shippedTxid(await capture.line());
    capture.child.kill('SIGKILL');
    await once(capture.child, 'exit');
    acknowledged.push(last);
  }
  const final: LineProcess = startCapture();
  assert.match(await final.line(), /^started /);
  writer.send('stop');
  let done = '';
  while (!done.startsWith('done')) done = await writer.line();
  const lastCommit = Number(done.split(' ')[1]);
  final.send('flush');
  let flushed = '';
  while (!flushed.startsWith('flushed')) flushed = await final.line();
  await once(final.child, 'exit');

  const keys = keySet(KEY_A);
  let n = 0;
  const restore = async (target: Parameters<typeof restorePitr>[0]['target']) => {
    const path = join(dir, `r${n++}.sqlite`);
    const got = await restorePitr({ store, keys, dbId, target, path });
    const rows = rowsOf(path);
    assert.deepEqual(rows, modelAfter(rows.last), `${JSON.stringify(target)}: exactly the rows of commit ${rows.last}`);
    return { txid: got.txid, k: rows.last };
  };

  const latest = await restore({ kind: 'latest' });
  assert.equal(latest.txid, Number(flushed.split(' ')[1]));
  assert.equal(latest.k, lastCommit, 'latest after flush is the last commit');

  const generations = new Map<string, { base: number; last: number }>();
  for (const o of await store.list(dbPrefix(dbId))) {
    const name = parsePitrName(o.key);
    if (name?.kind !== 'base' && name?.kind !== 'segment') continue;
    const g = generations.get(name.genId) ?? { base: Infinity, last: 0 };
    if (name.kind === 'base') g.base = Math.min(g.base, name.txid);
    else g.last = Math.max(g.last, name.lastTxid);
    generations.set(name.genId, g);
  }
  assert.equal(generations.size, ROUNDS + 1, 'a generation per start');
  for (const ack of acknowledged) {
    const at = await restore({ kind: 'txid', txid: ack });
    assert.equal(at.txid, ack, `acknowledged txid ${ack} is restorable`);
  }
  for (const { base, last } of generations.values()) {
    const first = await restore({ kind: 'txid', txid: base });
    for (let i = 1; i <= 4; i++) {
      const txid = base + Math.ceil((i / 4) * (last - base));
      const at = await restore({ kind: 'txid', txid });
      assert.equal(at.k - first.k, txid - base, `txid ${txid}: one txid per commit after the base`);
    }
  }
});

function shippedTxid(line: string): number {
  const m = /^shipped (\d+)$/.exec(line);
  assert.ok(m, `expected "shipped <txid>", got ${JSON.stringify(line)}`);
  return Number(m[1]);
}
