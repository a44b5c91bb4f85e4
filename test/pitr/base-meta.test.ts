import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { LifeboatError } from '../../src/errors.js';
import {
  BASE_HEADER_BYTES,
  type BaseHeader,
  baseNameOf,
  decodeBaseHeader,
  encodeBaseHeader,
} from '../../src/pitr/base.js';
import { decodeMeta, encodeMeta, type GenerationMeta } from '../../src/pitr/meta.js';
import { baseName, metaName } from '../../src/pitr/names.js';
import { openObject, sealObject } from '../../src/pitr/sealed.js';
import { DB_ID, GEN_ID, KEY_A, KEY_B, keySet } from './fixtures.js';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof LifeboatError ? `${err.code}: ${err.message}` : String(err);
  }
  return 'none';
}

const BASE: BaseHeader = {
  compressed: true,
  dbId: DB_ID,
  genId: GEN_ID,
  txid: 0x1234,
  observedMs: 1_700_000_000_123,
  pageSize: 4096,
  dbPages: 777,
  rolling: Buffer.alloc(16, 0x3c),
  afterSeq: 56,
  chainDigest: createHash('sha256').update('segment 56').digest(),
};
const BASE_EXPECT = { name: baseNameOf(BASE), dbId: DB_ID, genId: GEN_ID };

test('base header: the spec fields at fixed offsets, and back', () => {
  const h = encodeBaseHeader(BASE);
  assert.equal(h.length, BASE_HEADER_BYTES);
  assert.equal(h.toString('latin1', 0, 4), 'LBB1');
  assert.equal(h.readUInt16BE(4), 1);
  assert.equal(h.readUInt16BE(6), 1, 'compressed');
  assert.equal(h.toString('hex', 8, 24), DB_ID);
  assert.equal(h.toString('hex', 24, 40), GEN_ID);
  assert.equal(h.readBigUInt64BE(40), 0x1234n);
  assert.equal(h.readBigUInt64BE(48), 1_700_000_000_123n);
  assert.deepEqual([h.readUInt32BE(56), h.readUInt32BE(60)], [4096, 777]);
  assert.ok(h.subarray(64, 80).equals(BASE.rolling));
  assert.equal(h.readBigUInt64BE(80), 56n);
  assert.ok(h.subarray(88, 120).equals(BASE.chainDigest));
  assert.equal(BASE_EXPECT.name, baseName(DB_ID, GEN_ID, 0x1234, 1_700_000_000_123));
  // The header is the start of a longer plaintext (the image follows).
  assert.deepEqual(decodeBaseHeader(Buffer.concat([h, Buffer.alloc(100, 1)]), BASE_EXPECT), BASE);
  const first = { ...BASE, afterSeq: 0, chainDigest: Buffer.alloc(32), compressed: false };
  assert.deepEqual(decodeBaseHeader(encodeBaseHeader(first), { ...BASE_EXPECT, name: baseNameOf(first) }), first);
});

test('base header: name, plan and format checks, each its own code', () => {
  const h = encodeBaseHeader(BASE);
  const mismatch = [
    { ...BASE_EXPECT, name: baseName(DB_ID, GEN_ID, 0x1235, BASE.observedMs) },
    { ...BASE_EXPECT, name: baseName(DB_ID, GEN_ID, 0x1234, BASE.observedMs + 1) },
    { ...BASE_EXPECT, dbId: 'f'.repeat(32) },
    { ...BASE_EXPECT, genId: 'e'.repeat(32) },
    { ...BASE_EXPECT, name: metaName(DB_ID, GEN_ID) },
  ];
  for (const e of mismatch)
    assert.match(
      code(() => decodeBaseHeader(h, e)),
      /^PITR_OBJECT_MISMATCH: base /,
      e.name,
    );
  const edits: [string, (b: Buffer) => void, RegExp][] = [
    ['short', () => undefined, /shorter than its header/],
    ['magic', (b) => b.write('LBS1', 0, 'latin1'), /not "LBB1"/],
    ['version', (b) => b.writeUInt16BE(2, 4), /format version 2/],
    ['flags', (b) => b.writeUInt16BE(3, 6), /unknown flags/],
    ['page size', (b) => b.writeUInt32BE(3000, 56), /page size 3000/],
    ['chainDigest of a first base', (b) => b.writeBigUInt64BE(0n, 80), /afterSeq 0\) has a non-zero chainDigest/],
    ['huge txid', (b) => b.writeBigUInt64BE(2n ** 60n, 40), /txid \d+ is above 2\^53/],
  ];
  for (const [what, edit, message] of edits) {
    const b = Buffer.from(h);
    edit(b);
    const out = code(() => decodeBaseHeader(what === 'short' ? b.subarray(0, 100) : b, BASE_EXPECT));
    assert.match(out, /^PITR_OBJECT_MALFORMED: base lifeboat-pitr\//, what);
    assert.match(out, message, what);
  }
  assert.throws(() => encodeBaseHeader({ ...BASE, chainDigest: Buffer.alloc(32) }), /zero chainDigest/);
  assert.throws(() => encodeBaseHeader({ ...BASE, rolling: Buffer.alloc(8) }), RangeError);
  assert.throws(() => encodeBaseHeader({ ...BASE, txid: -1 }), RangeError);
});

const META: GenerationMeta = {
  dbId: DB_ID,
  genId: GEN_ID,
  created: 1_700_000_000_000,
  firstTxid: 4711,
  pageSize: 4096,
  reason: 'restored',
  parent: { genId: '018f3a2b4c5d0000000000000000aaaa', txid: 4710 },
  gap: { fromTxid: 4700, fromMs: 1_699_999_990_000, toMs: 1_700_000_000_000 },
  timeline: 2,
  label: { nodeId: 1, filenameDb: 'hiqlite.db', host: 'rauthy-0' },
};
const META_EXPECT = { name: metaName(DB_ID, GEN_ID), dbId: DB_ID, genId: GEN_ID };

test('meta: JSON with a fixed key order, strict on the way back', () => {
  const plain = encodeMeta(META);
  assert.equal(
    plain.toString(),
    '{"format":"LBM1","version":1,"dbId":"0123456789abcdef0123456789abcdef",' +
      '"genId":"018f3a2b4c5d00112233445566778899","created":1700000000000,"firstTxid":4711,"pageSize":4096,' +
      '"reason":"restored","parent":{"genId":"018f3a2b4c5d0000000000000000aaaa","txid":4710},' +
      '"gap":{"fromTxid":4700,"fromMs":1699999990000,"toMs":1700000000000},"timeline":2,' +
      '"label":{"nodeId":1,"filenameDb":"hiqlite.db","host":"rauthy-0"}}',
  );
  assert.deepEqual(decodeMeta(plain, META_EXPECT), META);
  const fresh = { ...META, parent: null, gap: null, timeline: 1, reason: 'first-start' };
  assert.deepEqual(decodeMeta(encodeMeta(fresh), META_EXPECT), fresh);
  const json = JSON.parse(plain.toString()) as Record<string, unknown>;
  const malformed: [string, unknown, RegExp][] = [
    ['not json', '{', /not JSON/],
    ['array', [], /not a JSON object/],
    ['version 2', { ...json, version: 2 }, /version 2/],
    ['extra field', { ...json, extra: 1 }, /unknown field\(s\) extra/],
    ['missing field', { ...json, gap: undefined }, /missing field\(s\) gap/],
    ['txid as string', { ...json, firstTxid: '4711' }, /firstTxid/],
    ['bad parent', { ...json, parent: { genId: 'x', txid: 1 } }, /parent/],
    ['gap backwards', { ...json, gap: { fromTxid: 1, fromMs: 5, toMs: 4 } }, /gap ends before it begins/],
    ['label extra', { ...json, label: { nodeId: 1, filenameDb: 'a', host: 'b', x: 1 } }, /label/],
    ['reason', { ...json, reason: 'Because!' }, /reason/],
  ];
  for (const [what, value, message] of malformed) {
    const bytes = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
    const out = code(() => decodeMeta(bytes, META_EXPECT));
    assert.match(out, /^PITR_OBJECT_MALFORMED: generation meta lifeboat-pitr\//, what);
    assert.match(out, message, what);
  }
  const other = encodeMeta({ ...META, genId: '018f3a2b4c5d0000000000000000aaaa' });
  assert.match(
    code(() => decodeMeta(other, META_EXPECT)),
    /^PITR_OBJECT_MISMATCH: .*genId/,
  );
  assert.throws(() => encodeMeta({ ...META, timeline: 0 }), RangeError);
});

test('meta sealed as LBM1: opens under its own name only; a missing key id is named', async () => {
  const ref = { kind: 'LBM1' as const, dbId: DB_ID, genId: GEN_ID, n: 0, name: META_EXPECT.name };
  const ct = await sealObject(encodeMeta(META), KEY_A, ref);
  assert.deepEqual(decodeMeta(await openObject(ct, keySet(KEY_B, KEY_A), ref), META_EXPECT), META);
  const elsewhere = { ...ref, genId: '018f3a2b4c5d0000000000000000aaaa' };
  await assert.rejects(openObject(ct, keySet(KEY_A), elsewhere), { code: 'PITR_OBJECT_TAMPERED' });
  await assert.rejects(openObject(ct, keySet(KEY_A), { ...ref, kind: 'LBS1' }), { code: 'PITR_OBJECT_TAMPERED' });
  await assert.rejects(openObject(ct, keySet(KEY_B), ref), (err: LifeboatError) => {
    assert.equal(err.code, 'PITR_KEY_MISSING');
    assert.match(err.message, /^generation meta lifeboat-pitr\/.*\/meta is encrypted with key id "keyA"/);
    return true;
  });
});
