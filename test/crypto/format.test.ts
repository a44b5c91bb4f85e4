import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunkNonce, decodeHeader, encodeHeader, encryptedStreamLength, MAX_CHUNKS } from '../../src/crypto/format.js';
import { LifeboatError } from '../../src/errors.js';

const PREFIX = Buffer.from('a0a1a2a3a4a5a6', 'hex');

function badHeader(buf: Buffer, pattern: RegExp): void {
  assert.throws(
    () => decodeHeader(buf),
    (err: unknown) => {
      assert.ok(err instanceof LifeboatError, String(err));
      assert.equal(err.code, 'BAD_HEADER');
      assert.match(err.message, pattern);
      assert.ok(err.hint);
      return true;
    },
  );
}

test('stream header bytes, written out by hand', () => {
  const header = encodeHeader('my_id-9', 128, PREFIX);
  // version 1, algorithm 1, length 6+7 = 13, chunk 128 KiB, "my_id-9", 7-byte prefix
  assert.equal(header.toString('hex'), `0101000d0080${Buffer.from('my_id-9', 'ascii').toString('hex')}a0a1a2a3a4a5a6`);
  const parsed = decodeHeader(header);
  assert.deepEqual(parsed?.header, { version: 1, algorithm: 1, length: 13, chunkKiB: 128, keyId: 'my_id-9' });
  assert.ok(parsed?.nonce.equals(PREFIX));
  assert.equal(parsed?.payloadOffset, 20);
});

test('single-value header: chunk size 0 and a 12-byte nonce', () => {
  const nonce = Buffer.from('000102030405060708090a0b', 'hex');
  const header = encodeHeader('ab', 0, nonce);
  assert.equal(header.toString('hex'), '0101' + '0008' + '0000' + '6162' + '000102030405060708090a0b');
  assert.equal(decodeHeader(header)?.payloadOffset, 20);
  assert.equal(decodeHeader(header)?.header.chunkKiB, 0);
  assert.throws(() => encodeHeader('ab', 0, PREFIX), RangeError, 'a value needs a 12-byte nonce');
  assert.throws(() => encodeHeader('ab', 4, nonce), RangeError, 'a stream needs a 7-byte prefix');
});

test('chunk sizes 1 and 1024 KiB are the limits; the parser reads the payload offset after the nonce', () => {
  for (const kib of [1, 1024])
    assert.equal(decodeHeader(Buffer.concat([encodeHeader('k1', kib, PREFIX), Buffer.alloc(5)]))?.header.chunkKiB, kib);
  for (const kib of [1025, -1, 1.5]) {
    assert.throws(
      () => encodeHeader('k1', kib, PREFIX),
      (err: unknown) => err instanceof LifeboatError && err.code === 'BAD_CHUNK_SIZE',
    );
  }
  assert.throws(
    () => encodeHeader('bad id', 4, PREFIX),
    (err: unknown) => err instanceof LifeboatError && err.code === 'BAD_KEY_ID',
  );
  assert.throws(
    () => encodeHeader('x', 4, PREFIX),
    (err: unknown) => err instanceof LifeboatError && err.code === 'BAD_KEY_ID',
  );
});

test('an incomplete header asks for more bytes at every length, then parses', () => {
  const full = encodeHeader('abcdefghij0123456789', 64, PREFIX); // the longest id: 33 bytes
  assert.equal(full.length, 33);
  for (let n = 0; n < full.length; n++)
    assert.equal(decodeHeader(full.subarray(0, n)), undefined, `prefix of ${n} bytes`);
  assert.equal(decodeHeader(full)?.header.keyId, 'abcdefghij0123456789');
});

test('every header field is validated, with a message naming it', () => {
  const good = encodeHeader('key1', 128, PREFIX);
  const patch = (at: number, ...bytes: number[]) => {
    const b = Buffer.from(good);
    bytes.forEach((v, i) => {
      b[at + i] = v;
    });
    return b;
  };
  badHeader(patch(0, 2), /unknown format version 2 in byte 0/);
  badHeader(patch(0, 0), /unknown format version 0/);
  badHeader(Buffer.from([9]), /version 9/); // fails on the first byte, before the rest arrives
  badHeader(patch(1, 2), /unknown algorithm 2 in byte 1/);
  badHeader(patch(2, 0, 7), /header length 7 is outside 8..26/);
  badHeader(patch(2, 0, 27), /header length 27 is outside 8..26/);
  badHeader(patch(2, 0xff, 0xff), /header length 65535/);
  badHeader(patch(4, 0x04, 0x01), /chunk size 1025 KiB is above the maximum 1024/);
  badHeader(patch(6, 0x20), /key id " ey1" is not 2-20 characters/);
  badHeader(patch(6, 0x00, 0x1b), /key id "\?\?y1"/); // control bytes are not echoed to a terminal
  const password = Buffer.concat([Buffer.from([1, 1, 0, 6 + 18, 0, 128]), Buffer.from('password$32768$4$4'), PREFIX]);
  badHeader(password, /encrypted with a password \(cryptr's argon2id mode\)/);
});

test('chunk nonce: prefix || u32 big-endian counter || last flag', () => {
  assert.equal(chunkNonce(PREFIX, 0, false).toString('hex'), 'a0a1a2a3a4a5a6' + '00000000' + '00');
  assert.equal(chunkNonce(PREFIX, 0, true).toString('hex'), 'a0a1a2a3a4a5a6' + '00000000' + '01');
  assert.equal(chunkNonce(PREFIX, 0x01020304, false).toString('hex'), 'a0a1a2a3a4a5a6' + '01020304' + '00');
  assert.equal(chunkNonce(PREFIX, MAX_CHUNKS - 1, true).toString('hex'), 'a0a1a2a3a4a5a6' + 'ffffffff' + '01');
  // As in RustCrypto's StreamBE32: the last counter value is reserved for a final chunk.
  assert.throws(() => chunkNonce(PREFIX, MAX_CHUNKS - 1, false), RangeError);
  assert.throws(() => chunkNonce(PREFIX, MAX_CHUNKS, true), RangeError);
  assert.throws(() => chunkNonce(PREFIX, -1, true), RangeError);
  const out = Buffer.alloc(12, 0xee);
  assert.equal(chunkNonce(PREFIX, 7, true, out), out, 'writes into the given buffer');
  assert.equal(out.toString('hex'), 'a0a1a2a3a4a5a6' + '00000007' + '01');
});

test('encrypted length: header, prefix, data and one tag per chunk (at least one chunk)', () => {
  assert.equal(encryptedStreamLength(0, 'k1', 1), 6 + 2 + 7 + 16);
  assert.equal(encryptedStreamLength(1024, 'k1', 1), 6 + 2 + 7 + 1024 + 16);
  assert.equal(encryptedStreamLength(1025, 'k1', 1), 6 + 2 + 7 + 1025 + 32);
  assert.equal(encryptedStreamLength(128 * 1024 * 3, 'abc'), 6 + 3 + 7 + 3 * 128 * 1024 + 48);
});
