import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, openSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { openEncryptedFile } from '../../src/crypto/encrypted-file.js';
import { createKeySet } from '../../src/crypto/keys.js';
import { createDecryptStream, createEncryptStream } from '../../src/crypto/stream.js';
import { LifeboatError } from '../../src/errors.js';
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
    const points = [0, 1, header - 1, header, header + 1, header + seg - 16, header + seg - 1, header + seg, header + 2 * seg + 5, expected.length - 16, expected.length - 1, expected.length];
    for (let i = 0; i < 40; i++) points.push(Math.floor(Math.random() * (expected.length + 1)));
    const ranges: Array<[number, number]> = [];
    for (const a of points) for (const b of points) if (a <= b) ranges.push([a, b]);
    const results = await Promise.all(ranges.slice(0, 600).map(([a, b]) => buffer(source.open(a, b)).then((got) => [a, b, got] as const)));
    for (const [a, b, got] of results) assert.ok(got.equals(expected.subarray(a, b)), `range [${a}, ${b})`);
    assert.throws(() => source.open(0, expected.length + 1), RangeError);
    assert.throws(() => source.open(5, 4), RangeError);
  } finally {
    await source.close();
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
  const isChanged = (err: unknown) => err instanceof LifeboatError && err.code === 'SOURCE_CHANGED' && err.message.includes('backup.sqlite');
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

/** A file the test writes piece by piece, announced to the source at its final size. */
async function beingWritten(final: Buffer) {
  const path = join(tempDir(), 'copy.sqlite');
  writeFileSync(path, Buffer.alloc(0));
  let finish!: () => void;
  let fail!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const source = await openEncryptedFile(path, KEY, { noncePrefix: PREFIX, beingWritten: { size: final.length, done } });
  const headerBytes = source.size - final.length - 16 * Math.ceil(final.length / CHUNK);
  /** The stream's bytes [start, end) of chunk `i` (body and tag). */
  const chunk = (i: number): [number, number] => [headerBytes + i * (CHUNK + 16), Math.min(source.size, headerBytes + (i + 1) * (CHUNK + 16))];
  const write = (from: number, to: number, bytes = final) => {
    const fd = openSync(path, 'r+');
    try {
      writeSync(fd, bytes.subarray(from, to), 0, to - from, from);
    } finally {
      closeSync(fd);
    }
  };
  return { path, source, chunk, write, finish, fail };
}

/** Tracks whether a promise has settled, without waiting for it. */
function watch(p: Promise<unknown>): { readonly settled: boolean; readonly promise: Promise<unknown> } {
  const state = { settled: false, promise: p };
  p.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

test('a file being written: a range is available once the file has grown past it, the first chunk once the copy is done', async () => {
  const final = randomBytes(4 * CHUNK + 100);
  const w = await beingWritten(final);
  try {
    const third = watch(w.source.available(...w.chunk(2)));
    const first = watch(w.source.available(w.chunk(0)[0], w.chunk(0)[1]));
    w.write(CHUNK, 2 * CHUNK); // a hole where chunk 0 goes, as SQLite leaves the header page for last
    await w.source.available(...w.chunk(1)); // the source saw the file at two chunks
    assert.equal(third.settled, false, 'chunk 2 is not written yet');
    w.write(2 * CHUNK, final.length);
    await third.promise;
    await w.source.available(...w.chunk(4));
    assert.equal(first.settled, false, 'the first chunk waits for the end of the copy, even with the file at full size');
    w.write(0, CHUNK);
    w.finish();
    await first.promise;
    assert.ok((await buffer(w.source.open(0, w.source.size))).equals(await reference(final)), 'the stream is the final file, encrypted');
    await w.source.confirmEarlyReads();
  } finally {
    await w.source.close();
  }
});

test('bytes read before the copy was done are confirmed against the final file; the stream is the same as from the finished file', async () => {
  const final = randomBytes(6 * CHUNK + 5);
  const w = await beingWritten(final);
  try {
    w.write(CHUNK, final.length);
    // Early: chunks 1 to 3, read while the copy is still running.
    const early = await buffer(w.source.open(w.chunk(1)[0], w.chunk(3)[1]));
    w.write(0, CHUNK);
    w.finish();
    const expected = await reference(final);
    assert.ok(early.equals(expected.subarray(w.chunk(1)[0], w.chunk(3)[1])));
    // A retried part reads its early chunks again: same bytes.
    assert.ok((await buffer(w.source.open(w.chunk(2)[0], w.chunk(2)[1]))).equals(expected.subarray(...w.chunk(2))));
    await w.source.confirmEarlyReads();
    assert.ok((await buffer(w.source.open(0, w.source.size))).equals(expected));
  } finally {
    await w.source.close();
  }
});

test('bytes rewritten after they were read early: COPY_REWRITTEN, and that chunk is never sealed again from the new bytes', async () => {
  const isRewritten = (err: unknown) => err instanceof LifeboatError && err.code === 'COPY_REWRITTEN' && err.message.includes('copy.sqlite');
  const final = randomBytes(5 * CHUNK);
  const w = await beingWritten(final);
  try {
    const stale = Buffer.from(final);
    stale.fill(0, 2 * CHUNK + 10, 2 * CHUNK + 20); // chunk 2 as first written, before the copy rewrote it
    w.write(CHUNK, final.length, stale);
    await buffer(w.source.open(...w.chunk(2)));
    w.write(2 * CHUNK, 3 * CHUNK); // the rewrite
    // A retry of that part while the copy runs: refused before any byte of it is produced.
    const retried: Buffer[] = [];
    await assert.rejects(
      new Promise((resolve, reject) => w.source.open(...w.chunk(2)).on('data', (b: Buffer) => retried.push(b)).on('end', resolve).on('error', reject)),
      isRewritten,
    );
    assert.deepEqual(retried, [], 'nothing sealed from the new bytes under the old nonce');
    w.write(0, CHUNK);
    w.finish();
    await assert.rejects(w.source.confirmEarlyReads(), isRewritten);
  } finally {
    await w.source.close();
  }
});

test('a copy that ends at another size than announced, or fails: COPY_REWRITTEN / COPY_FAILED, waiting reads end', async () => {
  const short = await beingWritten(randomBytes(3 * CHUNK));
  try {
    const waiting = watch(short.source.available(...short.chunk(2)));
    short.write(0, 2 * CHUNK);
    short.finish();
    await assert.rejects(waiting.promise as Promise<void>, (err: unknown) => err instanceof LifeboatError && err.code === 'COPY_REWRITTEN' && /262144 bytes, not the 393216 announced/.test(err.message));
    await assert.rejects(short.source.confirmEarlyReads(), (err: unknown) => err instanceof LifeboatError && err.code === 'COPY_REWRITTEN');
  } finally {
    await short.source.close();
  }
  const failed = await beingWritten(randomBytes(3 * CHUNK));
  try {
    const waiting = watch(buffer(failed.source.open(0, failed.source.size)));
    failed.fail(new Error('disk full'));
    await assert.rejects(waiting.promise as Promise<Buffer>, (err: unknown) => err instanceof LifeboatError && err.code === 'COPY_FAILED');
  } finally {
    await failed.source.close();
  }
});
