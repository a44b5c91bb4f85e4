// What `lifeboat pitr list|status` read from a listing (src/pitr/inspect.ts), on the cases a
// capture run rarely produces: a hole with a re-base after it (a gap inside one generation), a
// generation that lost its first segment, a generation with only its meta, foreign keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { databaseIds, holesOf, inspectDatabase } from '../../src/pitr/inspect.js';
import { baseName, genIdTime, metaName, segmentName } from '../../src/pitr/names.js';
import { planRestore, surveyRestorable } from '../../src/pitr/restore/plan.js';
import type { ListedObject } from '../../src/storage/object-store.js';
import { DB_ID } from './fixtures.js';

const T = 1_796_540_000_000;
const G1 = '01a24a00000000000000000000000001';
const G2 = '01a24a10000000000000000000000002';
const G3 = '01a24a20000000000000000000000003';
const OTHER = 'fedcba9876543210fedcba9876543210';

const obj = (key: string, size = 100): ListedObject => ({ key, size });

/**
 * G1: base at txid 10, segments 1–5 (txids to 20, 30, 40, 50, 60) without seq 3, and a re-base at
 * txid 45 after seq 4; G2: its first segment lost (base at 61, seq 2 and 3 only); G3: only a meta.
 */
function listing(): ListedObject[] {
  return [
    obj(metaName(DB_ID, G1), 50),
    obj(baseName(DB_ID, G1, 10, T), 4096),
    obj(segmentName(DB_ID, G1, 1, 20, T + 1000)),
    obj(segmentName(DB_ID, G1, 2, 30, T + 2000)),
    obj(segmentName(DB_ID, G1, 4, 50, T + 4000)),
    obj(baseName(DB_ID, G1, 45, T + 3500), 4096),
    obj(segmentName(DB_ID, G1, 5, 60, T + 5000)),
    obj(metaName(DB_ID, G2), 50),
    obj(baseName(DB_ID, G2, 61, T + 9000), 4096),
    obj(segmentName(DB_ID, G2, 2, 70, T + 10_000)),
    obj(segmentName(DB_ID, G2, 3, 80, T + 11_000)),
    obj(metaName(DB_ID, G3), 50),
    obj(`lifeboat-pitr/${DB_ID}/g/${G1}/s/not-a-segment`, 7),
    obj(metaName(OTHER, G1), 50),
    obj('backup_node_1_1796524200.sqlite', 9999),
  ];
}

test('holes are the missing seqs from 1 to the highest, with the segments around them', () => {
  const g1 = surveyRestorable(DB_ID, listing()).generations[0]!;
  assert.deepEqual(holesOf(g1.segments), [
    { fromSeq: 3, toSeq: 3, before: { seq: 2, txid: 30, ms: T + 2000 }, after: { seq: 4, txid: 50, ms: T + 4000 } },
  ]);
  const g2 = surveyRestorable(DB_ID, listing()).generations[1]!;
  assert.deepEqual(holesOf(g2.segments), [
    { fromSeq: 1, toSeq: 1, before: undefined, after: { seq: 2, txid: 70, ms: T + 10_000 } },
  ]);
  assert.deepEqual(holesOf([]), []);
  // Retention removed seqs 1–2 and kept seq 3, which the base at its last txid (45) follows: no hole.
  const pruned = surveyRestorable(DB_ID, [
    obj(baseName(DB_ID, G1, 45, T + 3500), 4096),
    obj(segmentName(DB_ID, G1, 3, 45, T + 3000)),
    obj(segmentName(DB_ID, G1, 4, 50, T + 4000)),
    obj(segmentName(DB_ID, G1, 6, 60, T + 6000)),
  ]).generations[0]!;
  assert.deepEqual(holesOf(pruned.segments, pruned.bases), [
    { fromSeq: 5, toSeq: 5, before: { seq: 4, txid: 50, ms: T + 4000 }, after: { seq: 6, txid: 60, ms: T + 6000 } },
  ]);
  // The first seqs lost while the base before them is still there: a hole.
  assert.deepEqual(holesOf(g2.segments, g2.bases).length, 1);
});

test('a database report: generations, the planner’s ranges, windows and gaps, and what latest restores', () => {
  const all = listing();
  const r = inspectDatabase(DB_ID, all);
  assert.deepEqual(
    r.generations.map((g) => g.genId),
    [G1, G2, G3],
    'the meta-only generation is listed too',
  );
  const [g1, g2, g3] = r.generations;
  assert.equal(g1!.createdMs, genIdTime(G1));
  assert.deepEqual(
    g1!.bases.map((b) => b.txid),
    [10, 45],
  );
  assert.deepEqual(g1!.segments, { count: 4, firstSeq: 1, lastSeq: 5, bytes: 400 });
  assert.deepEqual(g1!.first, { txid: 10, ms: T });
  assert.deepEqual(g1!.last, { txid: 60, ms: T + 5000 });
  assert.equal(g1!.objects, 8, 'every object under the generation, the unparsable one too');
  assert.equal(g1!.bytes, 50 + 4096 * 2 + 400 + 7);
  assert.equal(g1!.hasMeta, true);
  assert.deepEqual(g3, {
    genId: G3,
    createdMs: genIdTime(G3),
    bases: [],
    segments: { count: 0, firstSeq: undefined, lastSeq: undefined, bytes: 0 },
    first: undefined,
    last: undefined,
    hasMeta: true,
    link: undefined,
    objects: 1,
    bytes: 50,
    holes: [],
    ranges: [],
  });
  assert.equal(g2!.holes.length, 1);

  // The ranges are the planner's, as restore --pitr sees them.
  const plan = planRestore(DB_ID, all, { kind: 'latest' });
  assert.deepEqual(r.ranges, plan.ranges);
  assert.deepEqual(
    r.windows.map((w) => [w.genId, w.fromTxid, w.toTxid]),
    [
      [G1, 10, 30],
      [G1, 45, 60],
      [G2, 61, 80],
    ],
  );
  assert.deepEqual(r.gaps, [
    { kind: 'hole', from: { genId: G1, txid: 30, ms: T + 2000 }, to: { genId: G1, txid: 45, ms: T + 3500 } },
    { kind: 'generation', from: { genId: G1, txid: 60, ms: T + 5000 }, to: { genId: G2, txid: 61, ms: T + 9000 } },
  ]);
  assert.deepEqual(r.oldest, { genId: G1, txid: 10, ms: T });
  assert.deepEqual(r.newest, { genId: G2, txid: 80, ms: T + 11_000 });
  assert.deepEqual(r.latest, { genId: G2, txid: 80, ms: T + 11_000 });
  assert.deepEqual(r.newest, { genId: G2, txid: plan.segments.at(-1)!.lastTxid, ms: T + 11_000 });
  assert.equal(r.latestRefused, undefined);
  assert.deepEqual(r.newestShipped, { txid: 80, ms: T + 11_000 });
  const mine = all.filter((o) => o.key.startsWith(`lifeboat-pitr/${DB_ID}/`));
  assert.equal(r.objects, mine.length);
  assert.deepEqual(databaseIds(all), [DB_ID, OTHER]);
});

test('latest refused by the planner is reported with its code; nothing restorable has no window', () => {
  // G1 alone, with seq 5 lost and seq 6 shipped: the run from the base at 45 stops at seq 4.
  const cut = listing().filter((o) => !o.key.includes(`/g/${G2}/`) && !o.key.includes('/s/0000000000000005-'));
  cut.push(obj(segmentName(DB_ID, G1, 6, 70, T + 6000)));
  const r = inspectDatabase(DB_ID, cut);
  assert.equal(r.latest, undefined);
  assert.equal(r.latestRefused?.code, 'PITR_CHAIN_GAP');
  assert.match(r.latestRefused!.message, /segment seq 5 is missing/);
  assert.deepEqual(r.newest, { genId: G1, txid: 50, ms: T + 4000 }, 'the newest restorable is before the hole');
  assert.deepEqual(r.newestShipped, { txid: 70, ms: T + 6000 });
  assert.deepEqual(
    r.generations[0]!.holes.map((h) => [h.fromSeq, h.toSeq]),
    [
      [3, 3],
      [5, 5],
    ],
  );

  const none = inspectDatabase(OTHER, listing());
  assert.deepEqual(
    [none.oldest, none.newest, none.latest, none.windows, none.gaps],
    [undefined, undefined, undefined, [], []],
  );
  assert.equal(none.latestRefused?.code, 'PITR_TARGET_UNRESTORABLE');
  assert.equal(none.generations.length, 1, 'its meta-only generation');
  assert.equal(inspectDatabase('00000000000000000000000000000000', []).objects, 0);
});
