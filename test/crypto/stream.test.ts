import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { open, seal } from '../../src/crypto/aead.js';
import { encryptedStreamLength } from '../../src/crypto/format.js';
import type { EncryptionKey, KeySet } from '../../src/crypto/keys.js';
import { createDecryptStream, createEncryptStream, type KeyLookup } from '../../src/crypto/stream.js';
import { encryptValue } from '../../src/crypto/value.js';
import { LifeboatError } from '../../src/errors.js';

const KEY_A: EncryptionKey = {
  id: 'keyA',
  key: Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex'),
};
const KEY_B: EncryptionKey = { id: 'key_B-2', key: Buffer.alloc(32, 0xb2) };
const PREFIX = Buffer.from('f0f1f2f3f4f5f6', 'hex');

/** A key set as an object literal (keys.ts belongs to someone else; only its interface is used). */
function keySet(active: EncryptionKey, ...others: EncryptionKey[]): KeySet {
  const all = [active, ...others];
  return { active, ids: all.map((k) => k.id), get: (id) => all.find((k) => k.id === id) };
}

const SET = keySet(KEY_A, KEY_B);

/** Deterministic "random" piece sizes (seeded LCG), so a failure can be replayed. */
function randomPieces(seed: number, count: number, max: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 1 + (s % max);
  });
}

/** Cuts `buf` into pieces of the given sizes (cycled), or returns it whole. */
function split(buf: Buffer, pieces?: readonly number[]): Buffer[] {
  if (!pieces) return buf.length ? [buf] : [];
  const out: Buffer[] = [];
  for (let off = 0, i = 0; off < buf.length; i++) {
    const n = pieces[i % pieces.length]!;
    out.push(buf.subarray(off, off + n));
    off += n;
  }
  return out;
}

async function encrypt(
  plain: Buffer,
  options: { kib?: number; pieces?: readonly number[]; prefix?: Buffer; key?: EncryptionKey } = {},
): Promise<Buffer> {
  const stream = createEncryptStream(options.key ?? KEY_A, {
    chunkSizeKiB: options.kib ?? 128,
    noncePrefix: options.prefix ?? PREFIX,
  });
  return buffer(Readable.from(split(plain, options.pieces)).pipe(stream));
}

async function decrypt(data: Buffer, keys: KeyLookup = SET, pieces?: readonly number[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    Readable.from(split(data, pieces)),
    createDecryptStream(keys),
    new Writable({
      write: (c: Buffer, _e, done) => {
        chunks.push(c);
        done();
      },
    }),
  );
  return Buffer.concat(chunks);
}

/** Independent reference: one createCipheriv per chunk with a nonce built byte by byte. */
function referenceChunk(key: Buffer, prefix: Buffer, index: number, last: boolean, plain: Buffer): Buffer {
  const counter = Buffer.from([(index >>> 24) & 0xff, (index >>> 16) & 0xff, (index >>> 8) & 0xff, index & 0xff]);
  const nonce = Buffer.concat([prefix, counter, Buffer.from([last ? 0x01 : 0x00])]);
  assert.equal(nonce.length, 12);
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  const body = c.update(plain);
  c.final();
  return Buffer.concat([body, c.getAuthTag()]);
}

function referenceStream(plain: Buffer, kib: number): Buffer {
  const size = kib * 1024;
  // Header written out by hand: version 1, algorithm 1, length 6 + 4 ("keyA"), chunk KiB.
  const header = Buffer.from([0x01, 0x01, 0x00, 0x0a, (kib >> 8) & 0xff, kib & 0xff, 0x6b, 0x65, 0x79, 0x41]);
  const parts: Buffer[] = [header, PREFIX];
  const chunks = Math.max(1, Math.ceil(plain.length / size));
  for (let i = 0; i < chunks; i++)
    parts.push(referenceChunk(KEY_A.key, PREFIX, i, i === chunks - 1, plain.subarray(i * size, (i + 1) * size)));
  return Buffer.concat(parts);
}

async function failsWith(
  data: Buffer,
  code: string,
  pattern?: RegExp,
  keys: KeyLookup = SET,
  pieces?: readonly number[],
): Promise<LifeboatError> {
  let caught: unknown;
  try {
    await decrypt(data, keys, pieces);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof LifeboatError, `expected ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (pattern) assert.match(caught.message, pattern);
  for (const k of [KEY_A, KEY_B]) {
    for (const form of [k.key.toString('base64'), k.key.toString('hex')])
      assert.ok(!`${caught.message}${caught.hint}`.includes(form), 'key material in a message');
  }
  return caught;
}

test('round trips at every edge, for several chunk sizes, with input in odd pieces', async () => {
  for (const kib of [1, 4, 128]) {
    const c = kib * 1024;
    for (const size of [0, 1, c - 1, c, c + 1, 2 * c, 3 * c + 17]) {
      const plain = randomBytes(size);
      const whole = await encrypt(plain, { kib });
      assert.equal(whole.length, encryptedStreamLength(size, KEY_A.id, kib), `length, size ${size}, ${kib} KiB`);
      assert.ok(whole.equals(referenceStream(plain, kib)), `reference bytes, size ${size}, ${kib} KiB`);
      const splits: Array<readonly number[]> = [
        randomPieces(size + kib, 64, Math.max(2, Math.floor(c * 1.7))),
        [c + 5],
        [c - 1],
      ];
      if (size <= 5000) splits.push([1]);
      for (const pieces of splits) {
        // How the input is cut must not change a single output byte.
        assert.ok(
          (await encrypt(plain, { kib, pieces })).equals(whole),
          `encrypt pieces ${pieces.slice(0, 3)}…, size ${size}, ${kib} KiB`,
        );
        assert.ok(
          (await decrypt(whole, SET, pieces)).equals(plain),
          `decrypt pieces ${pieces.slice(0, 3)}…, size ${size}, ${kib} KiB`,
        );
      }
      assert.ok((await decrypt(whole)).equals(plain));
    }
  }
});

test('many chunks: 2 MiB through 1 KiB chunks, random split points on both sides', async () => {
  const plain = randomBytes(2 * 1024 * 1024 + 333);
  const enc = await encrypt(plain, { kib: 1, pieces: randomPieces(7, 500, 9000) });
  assert.equal(enc.length, encryptedStreamLength(plain.length, KEY_A.id, 1));
  assert.ok((await decrypt(enc, SET, randomPieces(8, 500, 9000))).equals(plain));
});

test('known answer: header, chunks and tags equal an independent per-chunk seal', async () => {
  // Pinned bytes for "abc" (one final chunk) and for an empty input (one empty final chunk).
  const abc = await encrypt(Buffer.from('abc'), { kib: 1 });
  assert.equal(
    abc.toString('hex'),
    '0101000a00016b657941' + 'f0f1f2f3f4f5f6' + '27368d' + 'c4c9ae0111fe17bdc2c5abfe13165ad5',
  );
  const empty = await encrypt(Buffer.alloc(0), { kib: 1 });
  assert.equal(empty.toString('hex'), '0101000a00016b657941' + 'f0f1f2f3f4f5f6' + '549c49bcfeca3d14219365f240d9f980');
  // Two full chunks and a partial one; then an exact multiple, whose final chunk is full.
  const plain = Buffer.concat([Buffer.alloc(1024, 'A'), Buffer.alloc(1024, 'B'), Buffer.from('0123456789')]);
  assert.equal((await encrypt(plain, { kib: 1 })).toString('hex'), referenceStream(plain, 1).toString('hex'));
  const exact = plain.subarray(0, 2048);
  const exactEnc = await encrypt(exact, { kib: 1 });
  assert.equal(exactEnc.length, 17 + 2 * (1024 + 16), 'no empty trailer chunk after an exact multiple');
  assert.equal(exactEnc.toString('hex'), referenceStream(exact, 1).toString('hex'));
  // And the decrypter reads what the reference built.
  assert.ok((await decrypt(referenceStream(plain, 1))).equals(plain));
});

test('RFC 8439 §2.8.2 AEAD test vector through the chunk seal and open functions', () => {
  const key = Buffer.from('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f', 'hex');
  const nonce = Buffer.from('070000004041424344454647', 'hex');
  const aad = Buffer.from('50515253c0c1c2c3c4c5c6c7', 'hex');
  const plain = Buffer.from(
    "Ladies and Gentlemen of the class of '99: If I could offer " +
      'you only one tip for the future, sunscreen would be it.',
  );
  const ciphertext =
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6' +
    '3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36' +
    '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
    '3ff4def08e4b7a9de576d26586cec64b6116';
  const tag = '1ae10b594f09e26a7e902ecbd0600691';
  const [body, mac] = seal(key, nonce, plain, aad);
  assert.equal(body.toString('hex'), ciphertext);
  assert.equal(mac.toString('hex'), tag);
  const sealed = Buffer.from(ciphertext + tag, 'hex');
  assert.equal(open(key, nonce, sealed, aad)?.toString(), plain.toString());
  sealed[5]! ^= 1;
  assert.equal(open(key, nonce, sealed, aad), undefined);
  assert.equal(open(key, nonce, Buffer.alloc(15)), undefined, 'shorter than a tag');
});

test('rotation: data encrypted with a retired key decrypts; an id not in the set is KEY_UNKNOWN', async () => {
  const plain = randomBytes(5000);
  const withA = await encrypt(plain, { kib: 1 });
  assert.ok((await decrypt(withA, keySet(KEY_B, KEY_A))).equals(plain), 'B active, A still in the set');
  assert.ok(
    (await decrypt(withA, (id) => (id === 'keyA' ? KEY_A : undefined))).equals(plain),
    'a lookup function works too',
  );
  const err = await failsWith(
    withA,
    'KEY_UNKNOWN',
    /key id "keyA", which is not in the key set \(configured ids: key_B-2\)/,
    keySet(KEY_B),
  );
  assert.match(err.hint ?? '', /ENC_KEYS/);
  await failsWith(withA, 'KEY_UNKNOWN', /"keyA"/, () => undefined);
  // Encrypted with B: the header names B.
  const withB = await encrypt(plain, { key: KEY_B });
  assert.equal(withB.subarray(6, 6 + KEY_B.id.length).toString(), 'key_B-2');
  assert.ok((await decrypt(withB)).equals(plain));
});

test('wrong key with the same id, and tampering anywhere, fail authentication at the right chunk', async () => {
  const plain = randomBytes(3 * 1024 + 100);
  const enc = await encrypt(plain, { kib: 1 }); // header 17 bytes, 3 chunks of 1040, final 116
  const H = 17;
  const flip = (at: number) => {
    const b = Buffer.from(enc);
    b[at]! ^= 0x01;
    return b;
  };
  await failsWith(
    enc,
    'AUTH_FAILED',
    /chunk 0.*different key than the one configured as "keyA"/,
    keySet({ id: 'keyA', key: Buffer.alloc(32, 0x99) }),
  );
  await failsWith(flip(H - 1), 'AUTH_FAILED', /at chunk 0/); // nonce prefix
  await failsWith(flip(H), 'AUTH_FAILED', /at chunk 0, bytes 17\.\.1056/); // first chunk
  await failsWith(flip(H + 1040 + 500), 'AUTH_FAILED', /at chunk 1.*chunks 0\.\.0 verified with key "keyA"/); // middle
  await failsWith(flip(H + 2 * 1040 + 1039), 'AUTH_FAILED', /at chunk 2/); // a non-final chunk's tag
  await failsWith(flip(H + 3 * 1040 + 5), 'AUTH_FAILED', /at chunk 3 \(the final piece\)/); // last chunk
  await failsWith(flip(enc.length - 1), 'AUTH_FAILED', /at chunk 3/); // last tag
  await failsWith(flip(5), 'BAD_HEADER', /single encrypted value/); // chunk size 1 -> 0 KiB: the value layout
  // Reordering: chunks 0 and 1 swapped.
  const swapped = Buffer.concat([
    enc.subarray(0, H),
    enc.subarray(H + 1040, H + 2080),
    enc.subarray(H, H + 1040),
    enc.subarray(H + 2080),
  ]);
  await failsWith(swapped, 'AUTH_FAILED', /at chunk 0/);
});

test('a flipped bit anywhere is never accepted, and gets the error of its region', async () => {
  const enc = await encrypt(randomBytes(2 * 1024 + 40), { kib: 1 }); // 17 + 1040 + 1040 + 56
  for (let at = 0; at < enc.length; at++) {
    for (const bit of [0x01, 0x80]) {
      const bad = Buffer.from(enc);
      bad[at]! ^= bit;
      let code = 'none';
      try {
        await decrypt(bad);
      } catch (err) {
        code = err instanceof LifeboatError ? err.code : String(err);
      }
      const expected =
        at < 2 || (at >= 2 && at < 4)
          ? ['BAD_HEADER'] // version, algorithm, length
          : at < 6
            ? ['BAD_HEADER', 'AUTH_FAILED', 'TRUNCATED'] // chunk size: another size misframes the chunks
            : at < 10
              ? ['BAD_HEADER', 'KEY_UNKNOWN'] // key id
              : ['AUTH_FAILED'];
      assert.ok(expected.includes(code), `byte ${at} bit ${bit}: ${code}`);
    }
  }
});

const truncationEveryLength =
  'truncation at every length is never accepted; a cut at a chunk boundary or in the header says TRUNCATED';
test(truncationEveryLength, async () => {
  const enc = await encrypt(randomBytes(3 * 1024 + 100), { kib: 1 });
  const H = 17;
  const boundaries = new Set([H, H + 1040, H + 2080, H + 3120]);
  // Every length near the header and each chunk boundary, and every 7th length in between
  // (a cut inside a chunk costs a search for appended bytes, so not all 3253 lengths).
  const lengths = [...Array(enc.length).keys()].filter(
    (n) => n % 7 === 0 || [0, ...boundaries].some((b) => Math.abs(n - b) <= 20),
  );
  for (const n of lengths) {
    const cut = enc.subarray(0, n);
    let err: unknown;
    try {
      await decrypt(cut);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof LifeboatError, `cut at ${n} was accepted`);
    const tail = n < H ? -1 : (n - H) % 1040;
    if (n < H || boundaries.has(n) || (tail > 0 && tail < 16))
      assert.equal(err.code, 'TRUNCATED', `cut at ${n}: ${err.message}`);
    else assert.equal(err.code, 'AUTH_FAILED', `cut at ${n} (inside a chunk): ${err.message}`);
  }
  await failsWith(Buffer.alloc(0), 'TRUNCATED', /empty/);
  await failsWith(enc.subarray(0, 5), 'TRUNCATED', /inside its header, after 5 bytes/);
  await failsWith(enc.subarray(0, H), 'TRUNCATED', /right after its header/);
  await failsWith(enc.subarray(0, H + 1040), 'TRUNCATED', /ends after chunk 0, which is not the final chunk/);
  await failsWith(enc.subarray(0, H + 2080), 'TRUNCATED', /ends after chunk 1, which is not the final chunk/, SET, [1]);
  await failsWith(enc.subarray(0, H + 2080 + 7), 'TRUNCATED', /7 bytes into chunk 2/);
  await failsWith(enc.subarray(0, H + 2080 + 300), 'AUTH_FAILED', /cut off inside it/);
});

test('bytes after the final chunk are TRAILING_DATA, also after a full final chunk and a second stream', async () => {
  const enc = await encrypt(randomBytes(3 * 1024 + 100), { kib: 1 });
  await failsWith(
    Buffer.concat([enc, Buffer.from('extra')]),
    'TRAILING_DATA',
    /5 unexpected byte\(s\) after the final chunk 3, from byte 3253/,
  );
  await failsWith(Buffer.concat([enc, Buffer.alloc(1)]), 'TRAILING_DATA', /1 unexpected byte/);
  await failsWith(Buffer.concat([enc, randomBytes(200)]), 'TRAILING_DATA', /200 unexpected/);
  const exact = await encrypt(randomBytes(2048), { kib: 1 });
  await failsWith(Buffer.concat([exact, Buffer.alloc(1)]), 'TRAILING_DATA', /after the final chunk 1, from byte 2097/);
  await failsWith(Buffer.concat([exact, randomBytes(5000)]), 'TRAILING_DATA', /final chunk 1/, SET, [333]);
  await failsWith(Buffer.concat([exact, exact]), 'TRAILING_DATA');
});

test('other inputs: a single value, a bad key length', async () => {
  await failsWith(encryptValue(KEY_A, Buffer.from('v')), 'BAD_HEADER', /single encrypted value/);
  await failsWith(
    await encrypt(Buffer.from('x')),
    'BAD_KEY',
    /key "keyA" is 16 bytes/,
    keySet({ id: 'keyA', key: Buffer.alloc(16) }),
  );
  assert.throws(
    () => createEncryptStream({ id: 'k1', key: Buffer.alloc(31) }),
    (err: unknown) => err instanceof LifeboatError && err.code === 'BAD_KEY',
  );
  for (const kib of [0, 1025, 2.5]) {
    assert.throws(
      () => createEncryptStream(KEY_A, { chunkSizeKiB: kib }),
      (err: unknown) => err instanceof LifeboatError && err.code === 'BAD_CHUNK_SIZE',
    );
  }
});

test('plaintext of a chunk that fails is never released; the chunks before it are, as they verify', async () => {
  const plain = randomBytes(4096);
  const enc = await encrypt(plain, { kib: 1 });
  enc[enc.length - 3]! ^= 0xff; // damage the final chunk only
  const received: Buffer[] = [];
  const sink = new Writable({
    write: (c: Buffer, _e, done) => {
      received.push(c);
      done();
    },
  });
  await assert.rejects(
    pipeline(Readable.from(split(enc, [100])), createDecryptStream(SET), sink),
    /authentication failed at chunk 3/,
  );
  const got = Buffer.concat(received);
  assert.equal(got.length, 3 * 1024, 'exactly the three verified chunks');
  assert.ok(got.equals(plain.subarray(0, got.length)));
});

test('the decrypter exposes the header it read', async () => {
  const d = createDecryptStream(SET);
  assert.equal(d.keyId, undefined);
  await pipeline(
    Readable.from([await encrypt(Buffer.from('hello'), { kib: 4 })]),
    d,
    new Writable({ write: (_c, _e, done) => done() }),
  );
  assert.equal(d.keyId, 'keyA');
  assert.equal(d.header?.chunkKiB, 4);
  assert.equal(d.complete, true);
});
