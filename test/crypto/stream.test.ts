import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { createKeySet } from '../../src/crypto/keys.js';
import { createDecryptStream, EncryptStream, type KeyLookup } from '../../src/crypto/stream.js';
import { decryptValue, encryptValue } from '../../src/crypto/value.js';
import { LifeboatError } from '../../src/errors.js';

const KEY_A = { id: 'keyA', key: Buffer.alloc(32, 0xa1) };
const KEY_B = { id: 'key_B-2', key: Buffer.alloc(32, 0xb2) };
const SET = createKeySet([KEY_A, KEY_B], 'keyA');

async function encrypt(plain: Buffer, chunkKiB = 128, pieces?: number[], prefix?: Buffer): Promise<Buffer> {
  return buffer(Readable.from(split(plain, pieces)).pipe(new EncryptStream(KEY_A, { chunkSizeKiB: chunkKiB, ...(prefix ? { noncePrefix: prefix } : {}) })));
}

async function decrypt(data: Buffer, keys: KeyLookup = SET, pieces?: number[]): Promise<Buffer> {
  return buffer(Readable.from(split(data, pieces)).pipe(createDecryptStream(keys)));
}

/** Cuts `buf` into pieces of the given sizes (cycled), or returns it whole. */
function split(buf: Buffer, pieces?: number[]): Buffer[] {
  if (!pieces) return buf.length ? [buf] : [];
  const out: Buffer[] = [];
  let i = 0;
  for (let off = 0; off < buf.length; i++) {
    const n = pieces[i % pieces.length]!;
    out.push(buf.subarray(off, off + n));
    off += n;
  }
  return out;
}

test('round-trips at every edge, for several chunk sizes and odd input splits', async () => {
  for (const kib of [1, 4, 128]) {
    const c = kib * 1024;
    for (const size of [0, 1, c - 1, c, c + 1, 3 * c, 3 * c + 17]) {
      const plain = randomBytes(size);
      for (const pieces of [undefined, [1, 7, 4093], [c + 5]]) {
        if (pieces?.[0] === 1 && size > 20_000) continue; // byte-by-byte only on small inputs
        const enc = await encrypt(plain, kib, pieces);
        const chunks = Math.max(1, Math.ceil(size / c));
        assert.equal(enc.length, 6 + KEY_A.id.length + 7 + size + 16 * chunks, `size ${size} chunk ${kib}K`);
        assert.ok((await decrypt(enc, SET, pieces ? [3, 1000, 77] : undefined)).equals(plain), `size ${size} chunk ${kib}K pieces ${pieces}`);
      }
    }
  }
});

test('known answer: header bytes and every chunk match an independent per-chunk seal', async () => {
  const prefix = Buffer.from('00112233445566', 'hex');
  const plain = Buffer.from('A'.repeat(1024) + 'B'.repeat(1024) + 'C'.repeat(10));
  const enc = await encrypt(plain, 1, undefined, prefix);
  // Header written out by hand: version 1, alg 1, length 6+4, chunk 1 KiB, "keyA", nonce prefix.
  const header = Buffer.from('0101' + '000a' + '0001' + Buffer.from('keyA').toString('hex') + '00112233445566', 'hex');
  const sealChunk = (i: number, last: boolean, data: Buffer) => {
    const nonce = Buffer.concat([prefix, Buffer.from([0, 0, 0, i]), Buffer.from([last ? 1 : 0])]);
    const c = createCipheriv('chacha20-poly1305', KEY_A.key, nonce, { authTagLength: 16 });
    const body = c.update(data);
    c.final();
    return Buffer.concat([body, c.getAuthTag()]);
  };
  const expected = Buffer.concat([header, sealChunk(0, false, plain.subarray(0, 1024)), sealChunk(1, false, plain.subarray(1024, 2048)), sealChunk(2, true, plain.subarray(2048))]);
  assert.equal(enc.toString('hex'), expected.toString('hex'));
  // Pinned: the digest of that independently built stream, so any drift shows up as a diff.
  assert.equal(createHash('sha256').update(expected).digest('hex'), PINNED_SHA256);
});

test('RFC 8439 §2.8.2 AEAD vector through node:crypto (empty AAD variant checks the tag length)', () => {
  const key = Buffer.from('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f', 'hex');
  const nonce = Buffer.from('070000004041424344454647', 'hex');
  const aad = Buffer.from('50515253c0c1c2c3c4c5c6c7', 'hex');
  const plain = Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  c.setAAD(aad, { plaintextLength: plain.length });
  const ct = c.update(plain);
  c.final();
  assert.equal(ct.subarray(0, 16).toString('hex'), 'd31a8d34648e60db7b86afbc53ef7ec2');
  assert.equal(c.getAuthTag().toString('hex'), '1ae10b594f09e26a7e902ecbd0600691');
});

test('rotation: data encrypted with a retired key still decrypts; an unknown key id does not', async () => {
  const plain = randomBytes(5000);
  const withA = await encrypt(plain);
  const rotated = createKeySet([KEY_A, KEY_B], 'key_B-2');
  assert.equal(rotated.active.id, 'key_B-2');
  assert.ok((await decrypt(withA, rotated)).equals(plain));
  const onlyB = createKeySet([KEY_B], 'key_B-2');
  await assert.rejects(decrypt(withA, onlyB), (err: unknown) => {
    assert.ok(err instanceof LifeboatError);
    assert.equal(err.code, 'KEY_UNKNOWN');
    assert.match(err.message, /"keyA".*configured ids: key_B-2/);
    assert.ok(!err.message.includes(KEY_B.key.toString('base64')));
    return true;
  });
});

async function failsWith(data: Buffer, code: string, pattern?: RegExp, keys: KeyLookup = SET): Promise<void> {
  await assert.rejects(decrypt(data, keys), (err: unknown) => {
    assert.ok(err instanceof LifeboatError, String(err));
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

test('every kind of damage gives its own error', async () => {
  const plain = randomBytes(3 * 1024 + 100);
  const enc = await encrypt(plain, 1); // header 17 bytes, chunks of 1040, final 116
  const headerLen = 6 + 4 + 7;
  const flip = (at: number) => {
    const b = Buffer.from(enc);
    b[at]! ^= 0x01;
    return b;
  };
  await failsWith(flip(0), 'BAD_HEADER', /version/);
  await failsWith(flip(1), 'BAD_HEADER', /algorithm/);
  await failsWith(Buffer.concat([Buffer.from([1, 1, 0, 3]), enc.subarray(4)]), 'BAD_HEADER', /header length/);
  await failsWith(flip(headerLen - 1), 'AUTH_FAILED', /chunk 0/); // nonce prefix
  await failsWith(flip(headerLen + 10), 'AUTH_FAILED', /chunk 0/);
  await failsWith(flip(headerLen + 1040 + 500), 'AUTH_FAILED', /chunk 1/);
  await failsWith(flip(enc.length - 1), 'AUTH_FAILED', /chunk 3/); // last tag
  await failsWith(enc.subarray(0, 5), 'TRUNCATED', /header/);
  await failsWith(enc.subarray(0, headerLen), 'TRUNCATED');
  await failsWith(enc.subarray(0, headerLen + 1040), 'TRUNCATED', /after chunk 0/); // at a chunk boundary
  await failsWith(enc.subarray(0, headerLen + 2 * 1040), 'TRUNCATED', /after chunk 1/);
  await failsWith(enc.subarray(0, headerLen + 1040 + 300), 'AUTH_FAILED'); // mid-chunk: cannot tell from corruption
  await failsWith(Buffer.concat([enc, Buffer.from('extra')]), 'TRAILING_DATA', /5 unexpected/);
  const wrongKey = createKeySet([{ id: 'keyA', key: Buffer.alloc(32, 0x99) }], 'keyA');
  await failsWith(enc, 'AUTH_FAILED', /chunk 0.*different key than "keyA"/, wrongKey);
  // A full final chunk followed by more bytes.
  const exact = await encrypt(randomBytes(2048), 1);
  await failsWith(Buffer.concat([exact, randomBytes(2000)]), 'TRAILING_DATA');
});

test('no plaintext is released for a chunk that fails authentication', async () => {
  const plain = randomBytes(4096);
  const enc = await encrypt(plain, 1);
  enc[enc.length - 3]! ^= 0xff; // damage the final chunk only
  const received: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      received.push(chunk);
      cb();
    },
  });
  await assert.rejects(pipeline(Readable.from(split(enc, [100])), createDecryptStream(SET), sink), /authentication failed at chunk 3/);
  const got = Buffer.concat(received);
  assert.ok(got.length <= 3 * 1024, `only authenticated chunks reach the consumer (got ${got.length} bytes)`);
  assert.ok(got.equals(plain.subarray(0, got.length)));
});

test('single values use the 12-byte nonce layout and the same key handling', () => {
  const value = encryptValue(KEY_B, Buffer.from('secret value'));
  assert.equal(value.readUInt16BE(4), 0, 'chunk size 0 marks a single value');
  assert.equal(decryptValue(SET, value).toString(), 'secret value');
  value[value.length - 1]! ^= 1;
  assert.throws(() => decryptValue(SET, value), (err: unknown) => err instanceof LifeboatError && err.code === 'AUTH_FAILED');
});

test('memory stays flat while 192 MiB stream through encrypt and decrypt', async () => {
  const block = randomBytes(1 << 20);
  const source = Readable.from(
    (function* () {
      for (let i = 0; i < 192; i++) yield block;
    })(),
  );
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  let total = 0;
  for await (const chunk of source.pipe(new EncryptStream(KEY_A)).pipe(createDecryptStream(SET))) {
    total += (chunk as Buffer).length;
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  assert.equal(total, 192 << 20);
  assert.ok(peak - before < 96 * 1024 * 1024, `RSS grew by ${((peak - before) / 1048576).toFixed(1)} MiB`);
});

const PINNED_SHA256 = '9b75f4594eb93a73985ea92421b53256ac249c1c6b723383807c0bf369e00b90';
