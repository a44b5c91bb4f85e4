import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  baseName,
  basesPrefix,
  genIdTime,
  headName,
  holdName,
  metaName,
  newDbId,
  newGenId,
  newRandomId,
  type PitrName,
  parsePitrName,
  probeName,
  segmentName,
  segmentsPrefix,
} from '../../src/pitr/names.js';
import { DB_ID as DB, GEN_ID as GEN, rng } from './fixtures.js';

const MAX = Number.MAX_SAFE_INTEGER;

/** A whole number in [0, max], biased towards small values and the edges. */
function randomNumber(next: () => number, max: number): number {
  const r = next();
  if (r < 0.05) return 0;
  if (r < 0.1) return max;
  const bits = Math.floor(next() * 53);
  return Math.min(max, Math.floor(next() * 2 ** bits));
}

test('the spec layout, exactly', () => {
  assert.equal(headName(DB), `lifeboat-pitr/${DB}/head`);
  assert.equal(metaName(DB, GEN), `lifeboat-pitr/${DB}/g/${GEN}/meta`);
  assert.equal(
    baseName(DB, GEN, 0x2a, 1_700_000_000_123),
    `lifeboat-pitr/${DB}/g/${GEN}/b/000000000000002a-1700000000123.lbb`,
  );
  assert.equal(
    segmentName(DB, GEN, 57, 0x1234, 5),
    `lifeboat-pitr/${DB}/g/${GEN}/s/0000000000000039-0000000000001234-0000000000005.lbs`,
  );
  assert.equal(holdName(DB, GEN), `lifeboat-pitr/${DB}/holds/${GEN}`);
  assert.equal(probeName(GEN), `lifeboat-pitr/.probe/${GEN}`);
  assert.ok(segmentName(DB, GEN, 1, 1, 1).startsWith(segmentsPrefix(DB, GEN)));
  assert.ok(baseName(DB, GEN, 1, 1).startsWith(basesPrefix(DB, GEN)));
});

test('format then parse gives back every field, for every kind', () => {
  const next = rng(17);
  for (let i = 0; i < 500; i++) {
    const seq = Math.max(1, randomNumber(next, MAX));
    const lastTxid = randomNumber(next, MAX);
    const ms = randomNumber(next, 9_999_999_999_999);
    const cases: [string, PitrName][] = [
      [headName(DB), { kind: 'head', dbId: DB }],
      [metaName(DB, GEN), { kind: 'meta', dbId: DB, genId: GEN }],
      [baseName(DB, GEN, lastTxid, ms), { kind: 'base', dbId: DB, genId: GEN, txid: lastTxid, ms }],
      [segmentName(DB, GEN, seq, lastTxid, ms), { kind: 'segment', dbId: DB, genId: GEN, seq, lastTxid, lastMs: ms }],
      [holdName(DB, GEN), { kind: 'hold', dbId: DB, restoreId: GEN }],
      [probeName(DB), { kind: 'probe', probeId: DB }],
    ];
    for (const [name, parsed] of cases) assert.deepEqual(parsePitrName(name), parsed, name);
  }
});

test('lexical order of names is numeric order (what S3 LIST returns is the plan)', () => {
  const next = rng(4242);
  const segs = Array.from({ length: 2000 }, () => ({
    seq: Math.max(1, randomNumber(next, MAX)),
    lastTxid: randomNumber(next, MAX),
    ms: randomNumber(next, 9_999_999_999_999),
  }));
  const names = segs.map((s) => segmentName(DB, GEN, s.seq, s.lastTxid, s.ms));
  const lexical = [...names].sort();
  const numeric = [...segs]
    .sort((a, b) => a.seq - b.seq || a.lastTxid - b.lastTxid || a.ms - b.ms)
    .map((s) => segmentName(DB, GEN, s.seq, s.lastTxid, s.ms));
  assert.deepEqual(lexical, numeric);
  const bases = segs.map((s) => ({ txid: s.lastTxid, ms: s.ms }));
  assert.deepEqual(
    bases.map((b) => baseName(DB, GEN, b.txid, b.ms)).sort(),
    [...bases].sort((a, b) => a.txid - b.txid || a.ms - b.ms).map((b) => baseName(DB, GEN, b.txid, b.ms)),
  );
  const times = segs.map((s) => Math.floor(s.ms / 40)); // < 2^48
  const gens = times.map((t) => ({ t, id: newGenId(t) }));
  assert.deepEqual(
    gens.map((g) => g.id).sort(),
    [...gens].sort((a, b) => a.t - b.t || (a.id < b.id ? -1 : 1)).map((g) => g.id),
  );
});

test('parse refuses near-misses', () => {
  const good = segmentName(DB, GEN, 57, 0x1234, 5);
  assert.ok(parsePitrName(good));
  const misses = [
    good.toUpperCase(),
    good.replace('.lbs', '.lbb'),
    good.replace('.lbs', ''),
    `${good}x`,
    `x${good}`,
    `/${good}`,
    good.replace('lifeboat-pitr/', 'lifeboat-pitr//'),
    good.replace('/s/', '/S/'),
    good.replace('/s/', '/b/'),
    good.replace('0000000000000039-', '000000000000039-'), // 15 hex digits
    good.replace('0000000000000039-', '00000000000000039-'), // 17
    good.replace('0000000000000039-', '000000000000003G-'),
    good.replace('-0000000000005.lbs', '-000000000005.lbs'), // 12 decimal digits
    good.replace('-0000000000005.lbs', '-000000000000a.lbs'), // hex where decimal belongs
    good.replace('0000000000000039', '0000000000000000'), // seq 0: segments count from 1
    good.replace('0000000000000039', 'ffffffffffffffff'), // above 2^53 - 1
    good.replace('0000000000000039', '0020000000000000'), // 2^53
    good.replace(DB, DB.slice(1)),
    good.replace(GEN, `${GEN}0`),
    good.replace('0000000000000039-0000000000001234', '0000000000000039_0000000000001234'),
    `lifeboat-pitr/${DB}/head/`,
    `lifeboat-pitr/${DB}/Head`,
    `lifeboat-pitr/${DB}/g/${GEN}/meta.json`,
    `lifeboat-pitr/${DB}/holds/${GEN}/x`,
    `lifeboat-pitr/.probe/${GEN.slice(2)}`,
    `lifeboat-pitr/probe/${GEN}`,
    `backup_node_1_1700000000.sqlite`,
    '',
  ];
  for (const name of misses) assert.equal(parsePitrName(name), undefined, name);
  assert.equal(parsePitrName(segmentName(DB, GEN, MAX, MAX, 0))?.kind, 'segment', '2^53 - 1 is the largest');
});

test('formatting refuses what a name cannot carry', () => {
  assert.throws(() => segmentName(DB, GEN, 0, 1, 1), RangeError);
  assert.throws(() => segmentName(DB, GEN, MAX + 1, 1, 1), RangeError);
  assert.throws(() => segmentName(DB, GEN, 1, -1, 1), RangeError);
  assert.throws(() => segmentName(DB, GEN, 1, 1.5, 1), RangeError);
  assert.throws(() => segmentName(DB, GEN, 1, 1, 10_000_000_000_000), RangeError);
  assert.throws(() => baseName(DB.toUpperCase(), GEN, 1, 1), RangeError);
  assert.throws(() => headName('abc'), RangeError);
  assert.throws(() => holdName(DB, 'x'), RangeError);
  assert.throws(() => newGenId(2 ** 48), RangeError);
  assert.throws(() => newGenId(-1), RangeError);
});

test('ids: 128 bits of lower-case hex, fresh each time; a genId starts with its 48-bit ms time', () => {
  const ids = new Set<string>();
  for (let i = 0; i < 100; i++) {
    for (const id of [newDbId(), newRandomId(), newGenId(1_700_000_000_123)]) {
      assert.match(id, /^[0-9a-f]{32}$/);
      ids.add(id);
    }
  }
  assert.equal(ids.size, 300, 'no repeats');
  const gen = newGenId(1_700_000_000_123);
  assert.equal(gen.slice(0, 12), (1_700_000_000_123).toString(16).padStart(12, '0'));
  assert.equal(genIdTime(gen), 1_700_000_000_123);
  assert.equal(genIdTime(newGenId(2 ** 48 - 1)), 2 ** 48 - 1);
});
