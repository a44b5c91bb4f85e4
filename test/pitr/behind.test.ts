import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SavedChain } from '../../src/pitr/capture/state-file.js';
import { baseName, metaName, segmentName } from '../../src/pitr/names.js';
import { bucketBehind } from '../../src/pitr/restore/behind.js';

/**
 * A restore on a host whose capture recorded more than the bucket holds (spec §3.6: the newest
 * segments deleted, the bucket rolled back) is told so; a record of another database, one the
 * bucket holds in full or beyond, or one a newer generation has superseded is not.
 */

const DB = 'a'.repeat(32);
const G1 = `0190000000000${'1'.repeat(19)}`;
const G2 = `0190000000001${'2'.repeat(19)}`;

function saved(genId: string, txid: number, dbId = DB): SavedChain {
  return {
    dbId,
    genId,
    seq: 3,
    txid,
    digest: 'c'.repeat(64),
    rolling: 'd'.repeat(32),
    pageSize: 4096,
    observedMs: 1_796_000_000_000,
    generation: { startedMs: 1_795_000_000_000, baseBytes: 8192, segmentBytes: 0, baseTxid: 100 },
  };
}

const listed = (...keys: string[]) => keys.map((key) => ({ key, size: 1 }));
const base = (genId: string, txid: number) => baseName(DB, genId, txid, 1_795_000_000_000);
const seg = (genId: string, seq: number, lastTxid: number) => segmentName(DB, genId, seq, lastTxid, 1_796_000_000_000);
const G1_TO_120 = listed(metaName(DB, G1), base(G1, 100), seg(G1, 1, 110), seg(G1, 2, 120));

test('not behind: no record, another database, the chain in full or beyond, a newer generation', () => {
  assert.equal(bucketBehind(DB, G1_TO_120, undefined), undefined);
  assert.equal(bucketBehind(DB, G1_TO_120, saved(G1, 130, 'b'.repeat(32))), undefined);
  assert.equal(bucketBehind(DB, G1_TO_120, saved(G1, 120)), undefined);
  assert.equal(bucketBehind(DB, G1_TO_120, saved(G1, 110)), undefined);
  assert.equal(bucketBehind(DB, listed(base(G1, 100)), saved(G1, 100)), undefined, 'the base alone (seq 0)');
  const superseded = listed(metaName(DB, G2), base(G2, 200), seg(G2, 1, 210));
  assert.equal(bucketBehind(DB, superseded, saved(G1, 130)), undefined, 'G1 retired by retention, G2 goes on');
  assert.equal(bucketBehind(DB, [...G1_TO_120, ...superseded], saved(G1, 130)), undefined);
});

test('behind: the recorded generation ends earlier in the bucket, or is not there', () => {
  assert.match(
    String(bucketBehind(DB, G1_TO_120, saved(G1, 121))),
    /holds generation .* up to txid 120, but this host's capture shipped it up to txid 121/,
  );
  assert.match(String(bucketBehind(DB, listed(metaName(DB, G1)), saved(G1, 100))), /is not in the bucket/);
  assert.match(String(bucketBehind(DB, [], saved(G2, 5))), /is not in the bucket/);
  // An older generation does not stand in for the recorded one.
  const older = listed(base(G1, 100), seg(G1, 1, 500));
  assert.match(String(bucketBehind(DB, older, saved(G2, 300))), /generation .* is not in the bucket/);
});
