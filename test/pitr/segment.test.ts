import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { createDecryptStream } from '../../src/crypto/stream.js';
import { LifeboatError } from '../../src/errors.js';
import { segmentName } from '../../src/pitr/names.js';
import { RollingChecksum } from '../../src/pitr/rolling.js';
import { sealObject } from '../../src/pitr/sealed.js';
import {
  decodeSegment,
  decodeSegmentPlaintext,
  type EncodedSegment,
  encodeSegment,
  encodeSegmentPlaintext,
  type SegmentExpectation,
  type SegmentRecord,
} from '../../src/pitr/segment.js';
import { applyRecords, Chain, DB_ID, GEN_ID, KEY_A, KEY_B, keySet, splitTx, walHeader } from './fixtures.js';

const BASE_DIGEST = createHash('sha256').update('the first base').digest();
const KEYS = keySet(KEY_A, KEY_B);
const CHUNK = 128 * 1024;
/** Where the chunks start in a stream under key id "keyA": 6-byte header + id + 7-byte prefix. */
const PAYLOAD = 6 + 4 + 7;

interface Built {
  readonly chain: Chain;
  readonly seg1: EncodedSegment & { ciphertext: Buffer };
  readonly seg2: EncodedSegment & { ciphertext: Buffer };
  readonly records1: SegmentRecord[];
  readonly records2: SegmentRecord[];
}

/**
 * Two segments: several transactions, a truncation, a late one, a WAL restart, and a large
 * transaction cut across the two (TX continues → CONT + TX).
 */
async function build(compress = true): Promise<Built> {
  const chain = new Chain(4096);
  const start = chain.snapshot();
  const records1: SegmentRecord[] = [
    chain.tx([1, 2, 3]),
    chain.tx([2]),
    chain.restart(),
    chain.tx([4, 5], { late: true }),
    chain.tx([3], { dbPages: 4 }),
  ];
  const big = chain.tx(Array.from({ length: 35 }, (_, i) => 6 + i));
  const [head, tail] = splitTx(big, 30, chain.pageSize);
  records1.push(head);
  const seg1 = await encodeSegment(chain.fields(1, BASE_DIGEST, start, start.epoch), records1, KEY_A, { compress });
  const records2: SegmentRecord[] = [{ type: 'cont', txid: big.txid }, tail, chain.tx([1, 7])];
  const before2 = { rolling: seg1.header.rollingAfter, dbPages: seg1.header.dbPagesAfter };
  const seg2 = await encodeSegment(chain.fields(2, seg1.digest, before2), records2, KEY_A, { compress });
  return { chain, seg1, seg2, records1, records2 };
}

function expect1(b: Built, over: Partial<SegmentExpectation> = {}): SegmentExpectation {
  return { name: b.seg1.name, dbId: DB_ID, genId: GEN_ID, seq: 1, prevDigest: BASE_DIGEST, firstTxid: 1, ...over };
}

function expect2(b: Built, over: Partial<SegmentExpectation> = {}): SegmentExpectation {
  return {
    name: b.seg2.name,
    dbId: DB_ID,
    genId: GEN_ID,
    seq: 2,
    prevDigest: b.seg1.digest,
    firstTxid: b.seg1.header.lastTxid,
    continuing: true,
    ...over,
  };
}

async function failure(p: Promise<unknown>, what = ''): Promise<LifeboatError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof LifeboatError) return err;
    throw err;
  }
  assert.fail(`expected a LifeboatError ${what}`);
}

/** The ciphertext offset of plaintext byte `p` (128 KiB chunks, 16-byte tags). */
function cipherOffset(p: number): number {
  return PAYLOAD + Math.floor(p / CHUNK) * (CHUNK + 16) + (p % CHUNK);
}

function flip(buf: Buffer, at: number): Buffer {
  const out = Buffer.from(buf);
  out[at]! ^= 0x01;
  return out;
}

/** RFC 5869 from HMAC, independent of the module under test. */
function hkdf(ikm: Buffer, salt: Buffer, info: Buffer): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  return createHmac('sha256', prk)
    .update(Buffer.concat([info, Buffer.from([1])]))
    .digest();
}

const built = build();
const builtRaw = build(false);

test('round trip: two segments with a late TX, a truncation, an EPOCH and a transaction split by CONT', async () => {
  const b = await built;
  const s1 = await decodeSegment(b.seg1.ciphertext, KEYS, expect1(b));
  const s2 = await decodeSegment(b.seg2.ciphertext, KEYS, expect2(b));
  assert.deepEqual(s1.records, b.records1);
  assert.deepEqual(s2.records, b.records2);
  assert.deepEqual(s1.header, b.seg1.header);
  assert.deepEqual(s2.header, b.seg2.header);
  assert.ok(s1.digest.equals(b.seg1.digest));
  assert.equal(s1.header.firstTxid, 1);
  assert.equal(s1.header.lastTxid, 5, 'the split transaction is the last txid of both');
  assert.equal(s2.header.firstTxid, 5);
  assert.equal(s2.header.lastTxid, 6);
  assert.equal(s1.header.dbPagesAfter, 4, 'after the last complete transaction, not the piece');
  assert.equal(s1.name, segmentName(DB_ID, GEN_ID, 1, 5, s1.header.lastObservedMs));
  assert.ok(b.seg1.ciphertext.length > CHUNK + 16, 'more than one cryptr chunk');
  // Applying both to an empty database gives the chain's image, and the checksum says so.
  const image = applyRecords(Buffer.alloc(0), [...s1.records, ...s2.records], 4096);
  assert.ok(image.equals(b.chain.image));
  assert.ok(RollingChecksum.fromDatabaseImage(image, 4096).value().equals(s2.header.rollingAfter));
  assert.ok(s2.header.rollingAfter.equals(b.chain.rolling.value()));
});

test('round trip uncompressed (flags bit 0 clear); compression makes a compressible segment smaller', async () => {
  const b = await builtRaw;
  const s2 = await decodeSegment(b.seg2.ciphertext, KEYS, expect2(b));
  assert.equal(s2.header.compressed, false);
  assert.deepEqual(s2.records, b.records2);
  const chain = new Chain(4096);
  const start = chain.snapshot();
  const zeros = chain.tx([1]);
  const dull: SegmentRecord = { ...zeros, frames: Buffer.alloc(zeros.frames.length) };
  dull.frames.writeUInt32BE(1, 0);
  dull.frames.writeUInt32BE(1, 4);
  start.epoch.copy(dull.frames, 8, 16, 24);
  const fields = chain.fields(1, BASE_DIGEST, start);
  const raw = await encodeSegmentPlaintext(fields, [dull], { compress: false });
  const small = await encodeSegmentPlaintext(fields, [dull]);
  assert.ok(small.plaintext.length < raw.plaintext.length / 10, `${small.plaintext.length} vs ${raw.plaintext.length}`);
});

test('resumes (flags bit 1) round-trips on a segment and is clear unless set', async () => {
  const b = await built;
  const plain = await decodeSegment(b.seg2.ciphertext, KEYS, expect2(b));
  assert.equal(plain.header.resumes, false);
  const chain = new Chain(4096);
  const start = chain.snapshot();
  const records = [chain.tx([1])];
  const fields = { ...chain.fields(1, BASE_DIGEST, start), resumes: true };
  const sealed = await encodeSegment(fields, records, KEY_A, { compress: false });
  assert.equal(sealed.plaintext.readUInt16BE(6), 2, 'bit 1 alone (uncompressed)');
  const opened = await decodeSegment(sealed.ciphertext, KEYS, {
    name: sealed.name,
    dbId: DB_ID,
    genId: GEN_ID,
    seq: 1,
  });
  assert.equal(opened.header.resumes, true);
  assert.deepEqual(opened.records, records);
});

test('the plaintext is laid out as the spec table, and opens with an independently derived key', async () => {
  const b = await builtRaw;
  const info = Buffer.concat([
    Buffer.from('LBS1'),
    Buffer.from(DB_ID, 'hex'),
    Buffer.from(GEN_ID, 'hex'),
    Buffer.alloc(8),
  ]);
  info.writeBigUInt64BE(1n, 36);
  const key = { id: 'keyA', key: hkdf(KEY_A.key, Buffer.from('lifeboat-pitr/1'), info) };
  const parts: Buffer[] = [];
  await pipeline(Readable.from([b.seg1.ciphertext]), createDecryptStream(keySet(key)), async (src) => {
    for await (const c of src) parts.push(c as Buffer);
  });
  const p = Buffer.concat(parts);
  assert.ok(p.equals(b.seg1.plaintext));
  assert.equal(b.seg1.ciphertext.toString('latin1', 6, 10), 'keyA', 'the cryptr header names the ENC_KEYS id');
  assert.equal(p.toString('latin1', 0, 4), 'LBS1');
  assert.equal(p.readUInt16BE(4), 1);
  assert.equal(p.readUInt16BE(6), 0);
  assert.equal(p.toString('hex', 8, 24), DB_ID);
  assert.equal(p.toString('hex', 24, 40), GEN_ID);
  assert.equal(p.readBigUInt64BE(40), 1n);
  assert.equal(p.readBigUInt64BE(48), 1n);
  assert.equal(p.readBigUInt64BE(56), 5n);
  assert.equal(Number(p.readBigUInt64BE(64)), b.seg1.header.firstObservedMs);
  assert.equal(Number(p.readBigUInt64BE(72)), b.seg1.header.lastObservedMs);
  assert.equal(p.readUInt32BE(80), 4096);
  assert.equal(p.readUInt32BE(84), 4);
  assert.ok(p.subarray(88, 120).equals(walHeader(4096, 0, 1000, 0xabcdef)));
  assert.deepEqual([p.readUInt32BE(120), p.readUInt32BE(124), p.readUInt32BE(128)], [1, 0x1234, 0x5678]);
  assert.ok(p.subarray(132, 164).equals(BASE_DIGEST));
  assert.ok(p.subarray(164, 180).equals(Buffer.alloc(16)), 'rollingBefore of an empty database');
  assert.ok(p.subarray(180, 196).equals(b.seg1.header.rollingAfter));
  // First record: TX 1 with 3 frames.
  assert.equal(p[196], 1);
  assert.equal(p.readBigUInt64BE(197), 1n);
  assert.equal(p[213], 0, 'flags: neither late nor continues');
  assert.equal(p.readUInt32BE(214), 3);
  assert.equal(p.readUInt32BE(218), 3);
  assert.equal(p.readUInt32BE(238), 1, 'frame 0 is page 1');
  const end = p.length - 32;
  assert.ok(p.subarray(end).equals(createHash('sha256').update(p.subarray(0, end)).digest()), 'trailer');
});

test('tamper: a flipped byte in the header, a frame, the trailer, a tag, the cryptr header → TAMPERED', async () => {
  const b = await builtRaw;
  const ct = b.seg1.ciphertext;
  const piece = b.records1[5] as Extract<SegmentRecord, { type: 'tx' }>;
  const frameAt = b.seg1.plaintext.indexOf(piece.frames.subarray(29 * 4120 + 24, 29 * 4120 + 88));
  assert.ok(frameAt > CHUNK, 'a frame in a later chunk');
  const cases: [string, number][] = [
    ['segment header (seq)', cipherOffset(47)],
    ['segment header (prevDigest)', cipherOffset(140)],
    ['a frame', cipherOffset(frameAt)],
    ['the trailer', cipherOffset(b.seg1.plaintext.length - 5)],
    ['a tag', ct.length - 3],
    ['the nonce prefix', 12],
    ['the chunk size', 5],
  ];
  for (const [where, at] of cases) {
    const err = await failure(decodeSegment(flip(ct, at), KEYS, expect1(b)));
    assert.equal(err.code, 'PITR_OBJECT_TAMPERED', where);
    assert.ok(err.message.includes(b.seg1.name), `${where}: names the object`);
  }
  const err = await failure(decodeSegment(flip(ct, cipherOffset(frameAt)), KEYS, expect1(b)));
  assert.match(err.message, /authentication failed at chunk 1/);
});

test('tamper: truncated or appended ciphertext → PITR_OBJECT_TAMPERED', async () => {
  const b = await built;
  const ct = b.seg1.ciphertext;
  for (const cut of [0, 5, PAYLOAD, PAYLOAD + 10, PAYLOAD + CHUNK + 16, ct.length - CHUNK, ct.length - 1]) {
    const err = await failure(decodeSegment(ct.subarray(0, cut), KEYS, expect1(b)), `cut at ${cut}`);
    assert.equal(err.code, 'PITR_OBJECT_TAMPERED', `cut at ${cut}`);
  }
  const err = await failure(decodeSegment(Buffer.concat([ct, Buffer.from('extra')]), KEYS, expect1(b)));
  assert.equal(err.code, 'PITR_OBJECT_TAMPERED');
});

test('tamper: a segment under another seq, swapped with its neighbour, of another dbId/genId → refused', async () => {
  const b = await built;
  const h = b.seg2.header;
  // Segment 1's bytes put where segment 2 belongs (and the other way round): the derived key differs.
  const swapped = await failure(decodeSegment(b.seg1.ciphertext, KEYS, expect2(b)));
  assert.equal(swapped.code, 'PITR_OBJECT_TAMPERED');
  assert.match(swapped.message, /derived from its name/);
  assert.equal((await failure(decodeSegment(b.seg2.ciphertext, KEYS, expect1(b)))).code, 'PITR_OBJECT_TAMPERED');
  // Copied into another database or generation, name and all.
  const otherDb = 'f'.repeat(32);
  const otherGen = `${GEN_ID.slice(0, 12)}${'e'.repeat(20)}`;
  for (const [dbId, genId] of [
    [otherDb, GEN_ID],
    [DB_ID, otherGen],
  ] as const) {
    const name = segmentName(dbId, genId, 2, h.lastTxid, h.lastObservedMs);
    const err = await failure(decodeSegment(b.seg2.ciphertext, KEYS, expect2(b, { name, dbId, genId })));
    assert.equal(err.code, 'PITR_OBJECT_TAMPERED', `${dbId}/${genId}`);
  }
  // Renamed to claim other txids or times under the same seq: the key still opens it, the header refuses.
  for (const name of [
    segmentName(DB_ID, GEN_ID, 2, h.lastTxid + 1, h.lastObservedMs),
    segmentName(DB_ID, GEN_ID, 2, h.lastTxid, h.lastObservedMs + 1000),
  ]) {
    const err = await failure(decodeSegment(b.seg2.ciphertext, KEYS, expect2(b, { name })));
    assert.equal(err.code, 'PITR_OBJECT_MISMATCH', name);
    assert.ok(err.message.includes(name));
  }
  // A name that is not the planned seq at all: refused before decrypting.
  const plan = await failure(decodeSegment(b.seg2.ciphertext, KEYS, expect2(b, { seq: 3 })));
  assert.equal(plan.code, 'PITR_OBJECT_MISMATCH');
});

test('chain checks: prevDigest, firstTxid, page size and CONT against the plan → PITR_OBJECT_MISMATCH', async () => {
  const b = await built;
  const cases: [string, Partial<SegmentExpectation>, RegExp][] = [
    ['prevDigest', { prevDigest: createHash('sha256').update('another').digest() }, /prevDigest .* belongs to another/],
    ['firstTxid', { firstTxid: 7 }, /firstTxid 5, the name and plan say 7/],
    ['pageSize', { pageSize: 8192 }, /pageSize 4096/],
    ['not continuing', { continuing: false }, /continues transaction 5, but the segment before it ended/],
  ];
  for (const [what, over, message] of cases) {
    const err = await failure(decodeSegment(b.seg2.ciphertext, KEYS, expect2(b, over)));
    assert.equal(err.code, 'PITR_OBJECT_MISMATCH', what);
    assert.match(err.message, message, what);
    assert.ok(err.message.includes(b.seg2.name), what);
  }
  const err = await failure(decodeSegment(b.seg1.ciphertext, KEYS, expect1(b, { continuing: true })));
  assert.equal(err.code, 'PITR_OBJECT_MISMATCH');
  assert.match(err.message, /ended inside transaction 1, and this one does not continue it/);
});

test('keys: a removed key id → PITR_KEY_MISSING naming it; a rotated set opens; wrong bytes → TAMPERED', async () => {
  const b = await built;
  const err = await failure(decodeSegment(b.seg1.ciphertext, keySet(KEY_B), expect1(b)));
  assert.equal(err.code, 'PITR_KEY_MISSING');
  assert.match(err.message, /key id "keyA", which is not in ENC_KEYS \(configured ids: keyB\)/);
  assert.ok(err.message.includes(b.seg1.name));
  assert.match(err.hint!, /add the key "keyA" back to ENC_KEYS/);
  const lookup = await failure(decodeSegment(b.seg1.ciphertext, () => undefined, expect1(b)));
  assert.equal(lookup.code, 'PITR_KEY_MISSING');
  const rotated = await decodeSegment(b.seg1.ciphertext, keySet(KEY_B, KEY_A), expect1(b));
  assert.equal(rotated.header.seq, 1);
  const wrong = await failure(
    decodeSegment(b.seg1.ciphertext, keySet({ id: 'keyA', key: Buffer.alloc(32, 3) }), expect1(b)),
  );
  assert.equal(wrong.code, 'PITR_OBJECT_TAMPERED');
  assert.doesNotMatch(`${err.message}${err.hint}`, new RegExp(KEY_A.key.toString('base64').slice(0, 12)));
});

/** Seals hand-edited plaintext with the right key: authentic, but not what the codec writes. */
async function forged(b: Built, edit: (p: Buffer) => Buffer, redigest = true): Promise<Buffer> {
  let p = edit(Buffer.from(b.seg1.plaintext));
  if (redigest) {
    const end = p.length - 32;
    p = Buffer.concat([p.subarray(0, end), createHash('sha256').update(p.subarray(0, end)).digest()]);
  }
  return sealObject(p, KEY_A, { kind: 'LBS1', dbId: DB_ID, genId: GEN_ID, n: 1 });
}

test('authentic but malformed plaintext → PITR_OBJECT_MALFORMED, naming the failed check', async () => {
  const b = await builtRaw;
  const tx1Frames = 196 + 42; // record 0's frames start here
  const tx2 = tx1Frames + 3 * (24 + 4096); // record 1
  type Edit = (p: Buffer) => Buffer;
  const u16 =
    (at: number, v: number): Edit =>
    (p) => {
      p.writeUInt16BE(v, at);
      return p;
    };
  const u32 =
    (at: number, v: number): Edit =>
    (p) => {
      p.writeUInt32BE(v, at);
      return p;
    };
  const u64 =
    (at: number, v: bigint): Edit =>
    (p) => {
      p.writeBigUInt64BE(v, at);
      return p;
    };
  const byte =
    (at: number, v: (old: number) => number): Edit =>
    (p) => {
      p[at] = v(p[at]!);
      return p;
    };
  const cases: [string, Edit, RegExp, boolean?][] = [
    ['trailer digest', byte(1000, (v) => v ^ 1), /trailer digest/, false],
    ['magic', byte(3, () => 0x58), /not "LBS1"/],
    ['version', u16(4, 2), /format version 2/],
    ['flags', u16(6, 0x8000), /unknown flags/],
    ['txid gap', u64(tx2 + 1, 3n), /txid 3 after 1 \(must be \+1\)/],
    ['record type', byte(tx2, () => 9), /unknown type 9/],
    ['TX flags', byte(tx2 + 17, () => 0x80), /unknown TX flags/],
    ['frame salts', byte(tx1Frames + 8, (v) => v ^ 1), /frame 0: its salts/],
    ['page 0', u32(tx1Frames, 0), /frame 0: page number 0/],
    ['commit mid-transaction', u32(tx1Frames + 4, 3), /a commit frame inside transaction 1/],
    ['dbPages vs commit frame', u32(196 + 22, 9), /commits 3 pages, the record says 9/],
    ['frame count', u32(196 + 18, 4), /record 1 at offset \d+ has unknown type/],
    [
      'records cut short',
      (p) => Buffer.concat([p.subarray(0, p.length - 32 - 100), p.subarray(p.length - 32)]),
      /needs \d+ bytes at offset/,
    ],
    ['header dbPagesAfter vs records', u32(84, 5), /dbPagesAfter 5, its records say 4/],
    ['rollingAfter', byte(185, (v) => v ^ 1), /rollingAfter/],
    ['page size', u32(80, 1000), /page size 1000/],
  ];
  for (const [what, edit, message, redigest] of cases) {
    const ct = await forged(b, edit, redigest ?? true);
    const err = await failure(decodeSegment(ct, KEYS, expect1(b)), what);
    assert.equal(err.code, 'PITR_OBJECT_MALFORMED', what);
    assert.match(err.message, message, what);
    assert.ok(err.message.includes(b.seg1.name), what);
  }
});

test('authentic plaintext with a header that disagrees with the name → PITR_OBJECT_MISMATCH', async () => {
  const b = await builtRaw;
  const ct = await forged(b, (p) => {
    p.writeBigUInt64BE(2n, 40);
    return p;
  });
  const err = await failure(decodeSegment(ct, KEYS, expect1(b)));
  assert.equal(err.code, 'PITR_OBJECT_MISMATCH');
  assert.match(err.message, /header says seq 2, the name and plan say 1/);
  const p = Buffer.from(b.seg1.plaintext);
  assert.equal(
    (await failure(decodeSegmentPlaintext(p, expect1(b, { dbId: 'a'.repeat(32) })))).code,
    'PITR_OBJECT_MISMATCH',
  );
});

test('the encoder refuses what the decoder would refuse', async () => {
  const chain = new Chain(1024);
  const start = chain.snapshot();
  const fields = chain.fields(1, BASE_DIGEST, start);
  const t1 = chain.tx([1, 2]);
  const t2 = chain.tx([3]);
  const [piece, rest] = splitTx(chain.tx([4, 5, 6]), 1, 1024);
  const bad: [string, SegmentRecord[], RegExp][] = [
    ['no transaction', [], /holds no transaction/],
    ['txid gap', [t1, { ...t2, txid: 5 }], /must be \+1/],
    ['time backwards', [t1, { ...t2, observedMs: t1.observedMs - 1 }], /observedMs .* before/],
    ['CONT not first', [t1, { type: 'cont', txid: 2 }, t2], /CONT record may only open/],
    ['CONT of another txid', [{ type: 'cont', txid: 9 }, t1], /followed by a TX of the same txid/],
    ['continuing TX not last', [t1, t2, piece, rest], /continues in the next segment/],
    ['continuing TX states a size', [t1, t2, { ...piece, dbPages: 6 }], /continues, yet states/],
    ['EPOCH not a restart', [t1, { type: 'epoch', walHeader: walHeader(1024, 5, 5, 5) }, t2], /not a restart/],
    ['EPOCH last', [t1, t2, chain.restart()], /not followed by a transaction/],
    ['partial frame', [{ ...t1, frames: t1.frames.subarray(1) }], /not a whole number/],
    ['lock-byte page', [{ ...t1, frames: lockPage(t1.frames) }], /page number 1048577/],
  ];
  for (const [what, records, message] of bad) {
    await assert.rejects(encodeSegmentPlaintext(fields, records), (err: Error) => {
      assert.ok(err instanceof RangeError, what);
      assert.match(err.message, message, what);
      return true;
    });
  }
  await assert.rejects(encodeSegmentPlaintext({ ...fields, seq: 0 }, [t1]), /seq 0/);
  await assert.rejects(encodeSegmentPlaintext({ ...fields, pageSize: 4096 }, [t1]), /WAL header says page size 1024/);
});

function lockPage(frames: Buffer): Buffer {
  const out = Buffer.from(frames);
  out.writeUInt32BE(0x40000000 / 1024 + 1, 0);
  return out;
}
