import assert from 'node:assert/strict';
import { createHmac, hkdfSync } from 'node:crypto';
import { test } from 'node:test';
import type { EncryptionKey } from '../../src/crypto/keys.js';
import { deriveInfo, deriveObjectKey, type ObjectKeyName } from '../../src/pitr/derive.js';

/** RFC 5869 HKDF over HMAC-SHA256, written from the RFC, independent of node:crypto's hkdf. */
function hkdf(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  const blocks: Buffer[] = [];
  let t = Buffer.alloc(0);
  for (let i = 1; blocks.length * 32 < length; i++) {
    t = createHmac('sha256', prk)
      .update(Buffer.concat([t, info, Buffer.from([i])]))
      .digest();
    blocks.push(t);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

const KEY: EncryptionKey = {
  id: 'k1',
  key: Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex'),
};
const DB = '0123456789abcdef0123456789abcdef';
const GEN = '018f3a2b4c5d00112233445566778899';

test('RFC 5869 test case 1: the independent HKDF and node:crypto agree with the vector', () => {
  const ikm = Buffer.alloc(22, 0x0b);
  const salt = Buffer.from('000102030405060708090a0b0c', 'hex');
  const info = Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex');
  const okm = '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865';
  assert.equal(hkdf(ikm, salt, info, 42).toString('hex'), okm);
  assert.equal(Buffer.from(hkdfSync('sha256', ikm, salt, info, 42)).toString('hex'), okm);
});

test('info = kind(4 ASCII) ‖ dbId(16) ‖ genId(16) ‖ n(u64 BE); the key is HKDF(key, "lifeboat-pitr/1", info)', () => {
  const name: ObjectKeyName = { kind: 'LBS1', dbId: DB, genId: GEN, n: 0x0102030405 };
  const info = deriveInfo(name);
  assert.equal(info.toString('hex'), `4c425331${DB}${GEN}0000000102030405`);
  const derived = deriveObjectKey(KEY, name);
  assert.equal(derived.id, 'k1', 'the ENC_KEYS id, so the cryptr header names the configured key');
  assert.equal(derived.key.length, 32);
  assert.ok(derived.key.equals(hkdf(KEY.key, Buffer.from('lifeboat-pitr/1'), info, 32)));
  // Pinned (also computed with Python's hmac module): a change to the encoding would make every
  // stored object unreadable.
  assert.equal(derived.key.toString('hex'), 'e29c74ce13bd220a89812d61eca28d71ebb1ae5387d80adbf8d424977750c2f0');
  assert.ok(!derived.key.equals(KEY.key));
});

test('every part of the name gives a different key; the same name the same key', () => {
  const base: ObjectKeyName = { kind: 'LBS1', dbId: DB, genId: GEN, n: 7 };
  const variants: ObjectKeyName[] = [
    base,
    { ...base, kind: 'LBB1' },
    { ...base, kind: 'LBM1' },
    { ...base, dbId: `${DB.slice(0, 31)}0` },
    { ...base, genId: `1${GEN.slice(1)}` },
    { ...base, n: 8 },
    { ...base, n: 0 },
    { ...base, n: Number.MAX_SAFE_INTEGER },
  ];
  const keys = variants.map((v) => deriveObjectKey(KEY, v).key.toString('hex'));
  assert.equal(new Set(keys).size, variants.length);
  assert.equal(deriveObjectKey(KEY, { ...base }).key.toString('hex'), keys[0]);
  const other = deriveObjectKey({ id: 'k1', key: Buffer.alloc(32, 9) }, base);
  assert.notEqual(other.key.toString('hex'), keys[0], 'another key, another object key');
});

test('names the info cannot encode are refused', () => {
  const ok: ObjectKeyName = { kind: 'LBS1', dbId: DB, genId: GEN, n: 1 };
  assert.throws(() => deriveInfo({ ...ok, kind: 'LBX1' as 'LBS1' }), RangeError);
  assert.throws(() => deriveInfo({ ...ok, dbId: DB.toUpperCase() }), RangeError);
  assert.throws(() => deriveInfo({ ...ok, genId: GEN.slice(2) }), RangeError);
  assert.throws(() => deriveInfo({ ...ok, n: -1 }), RangeError);
  assert.throws(() => deriveInfo({ ...ok, n: 2 ** 53 }), RangeError);
});
