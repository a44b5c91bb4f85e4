import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { before, test } from 'node:test';
import { chunkLayout, HEAD_BYTES, openChunk } from '../../src/crypto/chunks.js';
import { openEncryptedFile } from '../../src/crypto/encrypted-file.js';
import { createKeySet } from '../../src/crypto/keys.js';
import { LifeboatError } from '../../src/errors.js';
import { fetchParallel } from '../../src/restore/parallel-fetch.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { storeObject } from '../../src/storage/store.js';
import { bufferSource } from '../support/range-source.js';
import { getTestS3, type TestS3 } from '../support/s3.js';
import { withProxy } from '../support/s3-checks.js';
import { tempDir } from '../support/tmp.js';

// Restore's parallel download (src/restore/parallel-fetch.ts): ranges of an encrypted backup
// fetched at once, each chunk opened by its position and written at its offset, against the
// real S3 server; faults from the test proxy where a real server cannot make them.

let s3: TestS3;
before(async () => {
  s3 = await getTestS3();
});

const KEYS = createKeySet([{ id: 'k1', key: Buffer.alloc(32, 9) }], 'k1');
const MiB = 1024 * 1024;
const isCode = (code: string) => (err: unknown) => err instanceof LifeboatError && err.code === code;

/** `size` plaintext bytes, encrypted (128 KiB chunks) into `name` in a fresh bucket. */
async function encryptedObject(size: number, store: S3Store, name = 'backup_node_1_1.sqlite') {
  const plain = randomBytes(size);
  const file = join(tempDir(), 'plain');
  writeFileSync(file, plain);
  const source = await openEncryptedFile(file, KEYS.active);
  await storeObject(store, name, source);
  await source.close();
  return { plain, size: source.size, name };
}

test('the chunk layout of a stream follows from its size alone, for every edge', () => {
  for (const plainSize of [0, 1, 128 * 1024 - 1, 128 * 1024, 128 * 1024 + 1, 3 * 128 * 1024]) {
    const header = Buffer.from([1, 1, 0, 8, 0, 128, ...Buffer.from('k1'), ...Buffer.alloc(7, 5)]);
    const chunks = Math.max(1, Math.ceil(plainSize / (128 * 1024)));
    const size = header.length + plainSize + 16 * chunks;
    const layout = chunkLayout(header, size, KEYS);
    assert.deepEqual([layout.chunks, layout.plainSize, layout.payloadOffset], [chunks, plainSize, 15], `${plainSize}`);
  }
  const header = Buffer.from([1, 1, 0, 8, 0, 128, ...Buffer.from('k1'), ...Buffer.alloc(7, 5)]);
  assert.throws(() => chunkLayout(header, 15, KEYS), isCode('TRUNCATED'));
  assert.throws(
    () => chunkLayout(header, 15 + 131_088 + 7, KEYS),
    isCode('TRUNCATED'),
    'a last piece shorter than a tag',
  );
  assert.throws(() => chunkLayout(header.subarray(0, 10), 10, KEYS), isCode('TRUNCATED'));
  const other = Buffer.from([1, 1, 0, 8, 0, 128, ...Buffer.from('zz'), ...Buffer.alloc(7, 5)]);
  assert.throws(() => chunkLayout(other, 100, KEYS), isCode('KEY_UNKNOWN'));
});

test('ranges in parallel write the exact plaintext, for sizes at and around the edges', async () => {
  const store = new S3Store(await s3.place());
  for (const size of [0, 1, 128 * 1024, 3 * MiB + 17]) {
    const { plain, size: objectSize, name } = await encryptedObject(size, store);
    const target = join(tempDir(), 'out.sqlite');
    const seen: number[] = [];
    const got = await fetchParallel({
      store,
      name,
      size: objectSize,
      keys: KEYS,
      target,
      rangeBytes: 512 * 1024,
      parallel: 3,
      onProgress: (bytes) => seen.push(bytes),
    });
    assert.ok(readFileSync(target).equals(plain), `${size} bytes`);
    assert.equal(got.bytes, size);
    if (size > 0) assert.equal(seen.at(-1), size);
  }
});

test('a flipped bit, two chunks swapped or a cut at a chunk boundary are refused, naming the chunk', async () => {
  const store = new S3Store(await s3.place());
  const { size, name } = await encryptedObject(2 * MiB, store);
  const good = await buffer(await store.get(name));
  const layout = chunkLayout(good.subarray(0, HEAD_BYTES), size, KEYS);
  const seg = layout.segmentBytes;
  const at = (i: number) => layout.payloadOffset + i * seg;
  const flipped = Buffer.from(good);
  flipped[at(5) + 100]! ^= 0x01;
  const swapped = Buffer.concat([
    good.subarray(0, at(3)),
    good.subarray(at(4), at(5)),
    good.subarray(at(3), at(4)),
    good.subarray(at(5)),
  ]);
  const cut = good.subarray(0, at(10));
  for (const [what, bytes, code, chunk] of [
    ['flipped', flipped, 'AUTH_FAILED', /chunk 5\b/],
    ['swapped', swapped, 'AUTH_FAILED', /chunk [34]\b/],
    ['cut', cut, 'TRUNCATED', /after chunk 9\b/],
  ] as const) {
    await storeObject(store, name, bufferSource(bytes));
    const target = join(tempDir(), 'out.sqlite');
    await assert.rejects(
      fetchParallel({ store, name, size: bytes.length, keys: KEYS, target, rangeBytes: 256 * 1024 }),
      (err: unknown) => isCode(code)(err) && chunk.test((err as Error).message),
      what,
    );
  }
  // Each chunk opens only at its own position.
  const sealed = good.subarray(at(2), at(3));
  assert.equal(openChunk(layout, 2, sealed).length, layout.chunkBytes);
  assert.throws(() => openChunk(layout, 6, sealed), isCode('AUTH_FAILED'));
});

test('connections cut in the middle of ranges are fetched again from the first chunk not yet written', async () => {
  const { proxy, config, direct } = await withProxy();
  try {
    const { plain, size, name } = await encryptedObject(6 * MiB, new S3Store(direct));
    proxy.set({ kind: 'cut', afterBytes: 300 * 1024, times: 3 });
    const target = join(tempDir(), 'out.sqlite');
    const store = new S3Store(config, { maxAttempts: 1 }); // retries come from the range loop, not the SDK
    const got = await fetchParallel({ store, name, size, keys: KEYS, target, rangeBytes: 2 * MiB, parallel: 2 });
    assert.equal(proxy.injected, 3, 'the cuts really happened');
    assert.ok(readFileSync(target).equals(plain));
    assert.equal(got.bytes, plain.length);
  } finally {
    await proxy.close();
  }
});

test('a range that keeps failing gives up after its attempts, with the transfer error', async () => {
  const { proxy, config, direct } = await withProxy();
  try {
    const { size, name } = await encryptedObject(3 * MiB, new S3Store(direct));
    proxy.set({ kind: 'cut', afterBytes: 200 * 1024, times: Infinity });
    const target = join(tempDir(), 'out.sqlite');
    const store = new S3Store(config, { maxAttempts: 1 });
    await assert.rejects(
      fetchParallel({ store, name, size, keys: KEYS, target, rangeBytes: MiB, parallel: 2, maxAttempts: 3 }),
      (err: unknown) => err instanceof LifeboatError && /^S3_/.test(err.code),
    );
    assert.ok(proxy.injected >= 3 && proxy.injected <= 2 * 3 + 2, `${proxy.injected} cuts`);
    assert.ok(existsSync(target), 'the caller (materialise) removes the partial file');
  } finally {
    await proxy.close();
  }
});
