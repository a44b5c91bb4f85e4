import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseName, holdName, metaName, newGenId, segmentName } from '../../src/pitr/names.js';
import { decidePitrRetention, deletionBatches, type PitrRetentionInput } from '../../src/pitr/retention.js';
import type { ListedObject } from '../../src/storage/object-store.js';

/** Retention's rules without a server (its I/O, holds and deletions are tested against radosgw). */

const DAY = 86_400_000;
const DB = 'd'.repeat(32);
const NOW = Date.UTC(2026, 11, 7, 12);
const WINDOW = 7 * DAY;

function at(key: string, modifiedMs?: number): ListedObject {
  return { key, size: 1, ...(modifiedMs !== undefined ? { modified: new Date(modifiedMs) } : {}) };
}

/** A closed generation begun at `startMs` with a base and segments up to `lastMs`, each dated as named. */
function generation(startMs: number, lastMs: number, dated = true) {
  const genId = newGenId(startMs);
  const when = (ms: number) => (dated ? ms : undefined);
  const keys = [
    at(metaName(DB, genId), when(startMs)),
    at(baseName(DB, genId, 1, startMs), when(startMs)),
    at(segmentName(DB, genId, 1, 10, (startMs + lastMs) / 2), when((startMs + lastMs) / 2)),
    at(segmentName(DB, genId, 2, 20, lastMs), when(lastMs)),
  ];
  return { genId, keys };
}

function decide(objects: readonly ListedObject[], current: string, extra: Partial<PitrRetentionInput> = {}) {
  return decidePitrRetention({ objects, currentGenId: current, nowMs: NOW, windowMs: WINDOW, ...extra });
}

test('generations whose newest object is older than the window expire, with every object; the current never', () => {
  const old = generation(NOW - 20 * DAY, NOW - 8 * DAY);
  const recent = generation(NOW - 9 * DAY, NOW - 6 * DAY);
  const current = generation(NOW - 30 * DAY, NOW - 29 * DAY);
  const d = decide([...old.keys, ...recent.keys, ...current.keys], current.genId);
  assert.deepEqual(d.expired, [{ genId: old.genId, keys: old.keys.map((o) => o.key) }]);
  assert.deepEqual(d.superseded, []);
  assert.equal(d.skipped, undefined);
});

test('without modified times (a store that does not say), the names decide', () => {
  const old = generation(NOW - 20 * DAY, NOW - 8 * DAY, false);
  const current = generation(NOW - DAY, NOW, false);
  assert.deepEqual(
    decide([...old.keys, ...current.keys], current.genId).expired.map((g) => g.genId),
    [old.genId],
  );
});

test('an object the bucket dates later than its name (written by a clock that was behind) keeps its generation', () => {
  // Named 8 days ago, but the newest segment reached the bucket 2 days ago.
  const behind = generation(NOW - 9 * DAY, NOW - 8 * DAY);
  const objects = behind.keys.map((o, i) => (i === 3 ? at(o.key, NOW - 2 * DAY) : o));
  const current = generation(NOW - DAY, NOW);
  assert.deepEqual(decide([...objects, ...current.keys], current.genId).expired, []);
});

test('this machine’s clock more than 10 min from the S3 server’s: nothing is deleted, either way', () => {
  const old = generation(NOW - 20 * DAY, NOW - 8 * DAY);
  const current = generation(NOW - DAY, NOW);
  const objects = [...old.keys, ...current.keys];
  for (const [offset, words] of [
    [-8 * DAY, '11520 min ahead of'],
    [11 * 60_000, '11 min behind'],
  ] as const) {
    const d = decide(objects, current.genId, { clockOffsetMs: offset });
    assert.deepEqual(d.expired, []);
    assert.deepEqual(d.superseded, []);
    assert.match(d.skipped ?? '', new RegExp(`this machine's clock is ${words} the S3 server's`));
  }
  // Within 10 min the clocks agree, and the old generation goes.
  assert.equal(decide(objects, current.genId, { clockOffsetMs: -10 * 60_000 }).expired.length, 1);
  assert.equal(decide(objects, current.genId, { clockOffsetMs: 10 * 60_000 }).expired.length, 1);
});

test('objects named in the future are reported, and their generation does not expire', () => {
  const ahead = generation(NOW - 20 * DAY, NOW + 30 * DAY, false);
  const current = generation(NOW - DAY, NOW);
  const d = decide([...ahead.keys, ...current.keys], current.genId);
  assert.deepEqual(d.expired, []);
  assert.deepEqual(d.future, [ahead.keys[2]!.key, ahead.keys[3]!.key]);
  // 10 min ahead is a clock's ordinary disagreement, not reported.
  const near = generation(NOW - DAY, NOW + 10 * 60_000, false);
  assert.deepEqual(decide([...near.keys, ...current.keys], current.genId).future, []);
});

test('inside the current generation: bases before the newest one older than the window go, with their segments', () => {
  const genId = newGenId(NOW - 20 * DAY);
  const base = (txid: number, ms: number) => at(baseName(DB, genId, txid, ms), ms);
  const seg = (seq: number, lastTxid: number, ms: number) => at(segmentName(DB, genId, seq, lastTxid, ms), ms);
  const objects = [
    at(metaName(DB, genId), NOW - 20 * DAY),
    base(1, NOW - 20 * DAY),
    seg(1, 50, NOW - 19 * DAY),
    base(51, NOW - 12 * DAY),
    seg(2, 100, NOW - 11 * DAY),
    base(101, NOW - 8 * DAY),
    seg(3, 150, NOW - 3 * DAY),
    base(151, NOW - 2 * DAY),
    seg(4, 200, NOW),
  ];
  const d = decide(objects, genId);
  assert.equal(d.keptBaseTxid, 101);
  assert.deepEqual(d.superseded, [objects[1]!.key, objects[3]!.key, objects[2]!.key, objects[4]!.key]);
  assert.deepEqual(d.expired, []);
  // The same base dated by the bucket inside the window (its name behind): the one before it is kept instead.
  const dated = objects.map((o, i) => (i === 5 ? at(o.key, NOW - 6 * DAY) : o));
  const later = decide(dated, genId);
  assert.equal(later.keptBaseTxid, 51);
  assert.deepEqual(later.superseded, [objects[1]!.key, objects[2]!.key]);
});

test('hold objects are handed to the caller; other names are ignored', () => {
  const current = generation(NOW - DAY, NOW);
  const hold = holdName(DB, 'a'.repeat(32));
  const d = decide([at(hold, NOW), at('lifeboat-pitr/not-ours', 0), ...current.keys], current.genId);
  assert.deepEqual(d.holdKeys, [hold]);
  assert.deepEqual(d.expired, []);
});

test("deletions come in two requests: what restores first, then the expired generations' metas", () => {
  const old = generation(NOW - 20 * DAY, NOW - 8 * DAY);
  const older = generation(NOW - 30 * DAY, NOW - 25 * DAY);
  const current = generation(NOW - DAY, NOW);
  const d = decide([...older.keys, ...old.keys, ...current.keys], current.genId);
  const [restoring, metas] = deletionBatches(d);
  const keysOf = (g: { keys: ListedObject[] }) => g.keys.map((o) => o.key);
  assert.deepEqual(metas.sort(), [metaName(DB, older.genId), metaName(DB, old.genId)].sort());
  assert.deepEqual(restoring.sort(), [...keysOf(older), ...keysOf(old)].filter((k) => !metas.includes(k)).sort());
  assert.deepEqual(deletionBatches(decide(current.keys, current.genId)), [[], []]);
});
