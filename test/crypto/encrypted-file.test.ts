import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { openEncryptedFile } from '../../src/crypto/encrypted-file.js';
import { createKeySet } from '../../src/crypto/keys.js';
import { createDecryptStream, createEncryptStream } from '../../src/crypto/stream.js';
import { LifeboatError } from '../../src/errors.js';
import { GrowingImage } from '../../src/snapshot/growing.js';
import { tempDir } from '../support/tmp.js';

const KEY = { id: 'current', key: Buffer.alloc(32, 9) };
const PREFIX = Buffer.from('abcdefg');
const CHUNK = 128 * 1024;

async function reference(plain: Buffer, chunkSizeKiB = 128): Promise<Buffer> {
  return buffer(Readable.from([plain]).pipe(createEncryptStream(KEY, { noncePrefix: PREFIX, chunkSizeKiB })));
}

function file(plain: Buffer): string {
  const path = join(tempDir(), 'backup.sqlite');
  writeFileSync(path, plain);
  return path;
}

test('the whole range is byte for byte what EncryptStream writes, at every size edge, and decrypts back', async () => {
  for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 8 * CHUNK + 17, 20 * CHUNK]) {
    const plain = randomBytes(size);
    const source = await openEncryptedFile(file(plain), KEY, { noncePrefix: PREFIX });
    try {
      const expected = await reference(plain);
      assert.equal(source.size, expected.length, `size for ${size}`);
      assert.equal(source.plainSize, size);
      const whole = await buffer(source.open(0, source.size));
      assert.ok(whole.equals(expected), `bytes for ${size}`);
      const back = await buffer(Readable.from([whole]).pipe(createDecryptStream(createKeySet([KEY], 'current'))));
      assert.ok(back.equals(plain), `round trip for ${size}`);
    } finally {
      await source.close();
    }
  }
});

test('any range, read any number of times and concurrently, is the same slice of the stream', async () => {
  const plain = randomBytes(11 * CHUNK + 1234);
  const expected = await reference(plain, 64);
  const source = await openEncryptedFile(file(plain), KEY, { noncePrefix: PREFIX, chunkSizeKiB: 64 });
  try {
    // Edges: inside the header, on chunk and tag boundaries, and random ones.
    const seg = 64 * 1024 + 16;
    const header = expected.length - plain.length - 16 * Math.ceil(plain.length / (64 * 1024));
    const points = [
      0,
      1,
      header - 1,
      header,
      header + 1,
      header + seg - 16,
      header + seg - 1,
      header + seg,
      header + 2 * seg + 5,
      expected.length - 16,
      expected.length - 1,
      expected.length,
    ];
    for (let i = 0; i < 40; i++) points.push(Math.floor(Math.random() * (expected.length + 1)));
    const ranges: Array<[number, number]> = [];
    for (const a of points) for (const b of points) if (a <= b) ranges.push([a, b]);
    const results = await Promise.all(
      ranges.slice(0, 600).map(([a, b]) => buffer(source.open(a, b)).then((got) => [a, b, got] as const)),
    );
    for (const [a, b, got] of results) assert.ok(got.equals(expected.subarray(a, b)), `range [${a}, ${b})`);
    assert.throws(() => source.open(0, expected.length + 1), RangeError);
    assert.throws(() => source.open(5, 4), RangeError);
  } finally {
    await source.close();
  }
});

test('a head is plaintext before the file: the stream is that of head ‖ file, read in any range', async () => {
  // Heads shorter than a chunk (a base's 120-byte header) and longer than one, over files of edge sizes.
  for (const [headBytes, fileBytes] of [
    [120, 0],
    [120, CHUNK - 120],
    [120, 5 * CHUNK + 7],
    [CHUNK + 3, 2 * CHUNK],
  ] as const) {
    const head = randomBytes(headBytes);
    const body = randomBytes(fileBytes);
    const whole = Buffer.concat([head, body]);
    const expected = await reference(whole);
    const source = await openEncryptedFile(file(body), KEY, { noncePrefix: PREFIX, head });
    try {
      assert.equal(source.plainSize, whole.length);
      assert.equal(source.size, expected.length);
      assert.ok((await buffer(source.open(0, source.size))).equals(expected), `${headBytes} + ${fileBytes}`);
      const cuts = [1, 40, 150, CHUNK, CHUNK + 200, source.size - 1].filter((c) => c < source.size);
      for (const a of cuts)
        for (const b of cuts)
          if (a <= b) assert.ok((await buffer(source.open(a, b))).equals(expected.subarray(a, b)), `[${a}, ${b})`);
    } finally {
      await source.close();
    }
  }
});

test('a random nonce prefix per source: two sources of one file differ, each is stable', async () => {
  const path = file(randomBytes(3 * CHUNK));
  const a = await openEncryptedFile(path, KEY);
  const b = await openEncryptedFile(path, KEY);
  try {
    const a1 = await buffer(a.open(0, a.size));
    assert.ok(a1.equals(await buffer(a.open(0, a.size))), 'the same source gives the same bytes again');
    assert.ok(!a1.equals(await buffer(b.open(0, b.size))), 'another source uses another nonce prefix');
  } finally {
    await a.close();
    await b.close();
  }
});

test('a file that changes after it was opened fails with SOURCE_CHANGED instead of producing bytes', async () => {
  const isChanged = (err: unknown) =>
    err instanceof LifeboatError && err.code === 'SOURCE_CHANGED' && err.message.includes('backup.sqlite');
  const grown = file(randomBytes(2 * CHUNK));
  const source = await openEncryptedFile(grown, KEY);
  try {
    appendFileSync(grown, 'more');
    await assert.rejects(buffer(source.open(0, source.size)), isChanged);
  } finally {
    await source.close();
  }
  const touched = file(randomBytes(2 * CHUNK));
  const second = await openEncryptedFile(touched, KEY);
  try {
    // Same size, rewritten in place: only the modification time tells.
    writeFileSync(touched, randomBytes(2 * CHUNK));
    utimesSync(touched, new Date(), new Date(Date.now() + 5000));
    await assert.rejects(buffer(second.open(100, 200)), isChanged);
  } finally {
    await second.close();
  }
});

test('a file still being written is read only where it is written, and encrypts to the same stream', async () => {
  const plain = randomBytes(6 * CHUNK + 999);
  const path = join(tempDir(), 'growing.sqlite');
  writeFileSync(path, Buffer.alloc(0));
  const image = new GrowingImage(plain.length, path);
  const source = await openEncryptedFile(path, KEY, { noncePrefix: PREFIX, growing: image });
  try {
    assert.equal(source.plainSize, plain.length, 'the size is the announced one, not the empty file');
    let received = 0;
    const whole = source.open(0, source.size);
    whole.on('data', (piece: Buffer) => {
      received += piece.length;
    });
    const all = buffer(whole);
    for (let i = 0; i < 20; i++) await new Promise(setImmediate);
    // Only the stream header needs no plaintext.
    assert.ok(received < 64, `nothing past the header before the copy wrote anything (${received} bytes)`);
    for (let at = 0; at < plain.length; at += 100_000) {
      appendFileSync(path, plain.subarray(at, at + 100_000));
      image.advance(Math.min(plain.length, at + 100_000));
    }
    image.finish(statSync(path).mtimeMs);
    assert.ok((await all).equals(await reference(plain)), 'the same bytes as a finished file');
    // Once done, the file is held to it: a later change fails the next range.
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    await assert.rejects(buffer(source.open(0, source.size)), { code: 'SOURCE_CHANGED' });
  } finally {
    await source.close();
  }
});

test('a copy that fails or is redone fails the reads waiting on it', async () => {
  const path = join(tempDir(), 'growing.sqlite');
  writeFileSync(path, randomBytes(CHUNK));
  const image = new GrowingImage(4 * CHUNK, path);
  const source = await openEncryptedFile(path, KEY, { noncePrefix: PREFIX, growing: image });
  try {
    image.advance(CHUNK);
    const waiting = buffer(source.open(0, source.size));
    image.fail();
    await assert.rejects(waiting, { code: 'SOURCE_CHANGED' });
  } finally {
    await source.close();
  }
});
