import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseName, metaName, newGenId, segmentName } from '../../src/pitr/names.js';
import { type GenerationLink, lineageOf } from '../../src/pitr/restore/lineage.js';
import { planRestore, timelineProblem } from '../../src/pitr/restore/plan.js';
import { pitrSource } from '../../src/restore/source.js';
import { isLifeboat } from '../support/s3-checks.js';

/**
 * Time targets along the line of restores (pitr/restore/lineage.ts, plan.ts): pure, from names
 * and the links the metas give. G1 ran from T0; at T0+50 s it was restored to txid 20, which
 * began G3 (parent G1@20, timeline 2); G2 had begun after a gap in G1 before that restore, on the
 * old timeline, and is a branch; G4 followed G3 after a gap.
 */

const DB = '0123456789abcdef0123456789abcdef';
const T0 = 1_800_000_000_000;
const G1 = newGenId(T0);
const G2 = newGenId(T0 + 30_000);
const G3 = newGenId(T0 + 60_000);
const G4 = newGenId(T0 + 90_000);

const links = new Map<string, GenerationLink>([
  [G1, { reason: 'first-start', parent: null, timeline: 1 }],
  [G2, { reason: 'continuity-unproven', parent: null, timeline: 1 }],
  [G3, { reason: 'restored', parent: { genId: G1, txid: 20 }, timeline: 2 }],
  [G4, { reason: 'continuity-unproven', parent: null, timeline: 2 }],
]);

/** G1: base txid 1 at T0, a segment of 10 txids every 5 s up to txid 41 (T0+20 s); G2…G4: a base and a segment. */
function listing() {
  const keys = [metaName(DB, G1), baseName(DB, G1, 1, T0)];
  for (let seq = 1; seq <= 4; seq++) keys.push(segmentName(DB, G1, seq, 1 + seq * 10, T0 + seq * 5000));
  for (const [g, at, txid] of [
    [G2, 30_000, 100],
    [G3, 60_000, 200],
    [G4, 90_000, 300],
  ] as const) {
    keys.push(metaName(DB, g), baseName(DB, g, txid, T0 + at), segmentName(DB, g, 1, txid + 5, T0 + at + 5000));
  }
  return keys.map((key) => ({ key, size: 1 }));
}

test('the line from the head: a parent up to its txid, otherwise the newest older generation on the timeline', () => {
  assert.deepEqual(
    [...lineageOf(links, G4)],
    [
      [G4, undefined],
      [G3, undefined],
      [G1, 20],
    ],
  );
  assert.deepEqual(
    [...lineageOf(links, G2)],
    [
      [G2, undefined],
      [G1, undefined],
    ],
  );
  // A parent whose meta is not known is on the line, cut, and ends it.
  const partial = new Map([[G3, links.get(G3)!]]);
  assert.deepEqual(
    [...lineageOf(partial, G3)],
    [
      [G3, undefined],
      [G1, 20],
    ],
  );
});

test('a time in the abandoned branch restores the point the line branched from; before it, as before', () => {
  const line = lineageOf(links, G4);
  // T0+45 s: G2 (a branch) had commits then, and G1 had gone on past txid 20: the line was at G1's txid 20.
  const abandoned = planRestore(DB, listing(), { kind: 'time', ms: T0 + 45_000 }, line);
  assert.equal(abandoned.genId, G1);
  assert.equal(abandoned.stopAtTxid, 20);
  assert.deepEqual(
    abandoned.segments.map((s) => s.seq),
    [1, 2, 3],
    'up to the segment holding txid 20, and the next (a split txid 20 goes on there)',
  );
  // T0+33 s, inside G2's commits: without the lineage it lands in G2, the rows the restore was made to undo.
  assert.equal(planRestore(DB, listing(), { kind: 'time', ms: T0 + 33_000 }).genId, G2);
  const inBranch = planRestore(DB, listing(), { kind: 'time', ms: T0 + 33_000 }, line);
  assert.deepEqual([inBranch.genId, inBranch.stopAtTxid], [G1, 20]);
  // Before the branch point the ancestor serves the time as always, still stopping at the point at most.
  const early = planRestore(DB, listing(), { kind: 'time', ms: T0 + 7000 }, line);
  assert.deepEqual([early.genId, early.stopAtTxid, early.segments.map((s) => s.seq)], [G1, 20, [1, 2]]);
  // The head and its predecessor serve their own times.
  assert.equal(planRestore(DB, listing(), { kind: 'time', ms: T0 + 62_000 }, line).genId, G3);
  const head = planRestore(DB, listing(), { kind: 'time', ms: T0 + 99_000 }, line);
  assert.deepEqual([head.genId, head.stopAtTxid], [G4, undefined]);
  // A txid names one transaction wherever it is: G2's are still reachable.
  assert.equal(planRestore(DB, listing(), { kind: 'txid', txid: 103 }, line).genId, G2);
  // Between G3's last segment and G4's base: a gap on the line, refused as any gap.
  assert.throws(
    () => planRestore(DB, listing(), { kind: 'time', ms: T0 + 80_000 }, line),
    isLifeboat('PITR_TARGET_UNRESTORABLE'),
  );
});

test('on a timeline named (--timeline K), latest is its head’s newest state, a time resolved along its line', () => {
  // Timeline 1's newest generation is G2, the branch the restore to G1@20 left behind.
  const old = lineageOf(links, G2);
  const latest = planRestore(DB, listing(), { kind: 'latest' }, old);
  assert.deepEqual([latest.genId, latest.segments.map((s) => s.lastTxid)], [G2, [105]]);
  // Inside G2's commits: its rows, which the head's line restores as G1's txid 20.
  assert.equal(planRestore(DB, listing(), { kind: 'time', ms: T0 + 33_000 }, old).genId, G2);
  assert.deepEqual(planRestore(DB, listing(), { kind: 'time', ms: T0 + 45_000 }, old).stopAtTxid, undefined);
  // The head's line is the default: latest there is G4's.
  assert.equal(planRestore(DB, listing(), { kind: 'latest' }, lineageOf(links, G4)).genId, G4);
  assert.equal(planRestore(DB, listing(), { kind: 'latest' }).genId, G4);
});

test('a timeline goes with latest and time:, is a whole number from 1; a txid is one transaction on any', () => {
  assert.equal(timelineProblem({ kind: 'latest' }, undefined), undefined);
  assert.equal(timelineProblem({ kind: 'time', ms: T0 }, 2), undefined);
  assert.match(timelineProblem({ kind: 'txid', txid: 5 }, 1)!, /a txid names one transaction/);
  assert.match(timelineProblem({ kind: 'latest' }, 0)!, /timeline 0 is not a whole number from 1/);
  assert.match(timelineProblem({ kind: 'latest' }, 1.5)!, /not a whole number/);
  assert.equal(pitrSource('latest', undefined, 'two'), 'timeline "two" is not a whole number from 1');
  assert.deepEqual(pitrSource('time:2026-12-01T00:00:00Z', undefined, '2'), {
    kind: 'pitr',
    target: { kind: 'time', ms: Date.parse('2026-12-01T00:00:00Z') },
    dbId: undefined,
    timeline: 2,
  });
});
