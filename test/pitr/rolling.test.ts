import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { pageHash, RollingChecksum } from '../../src/pitr/rolling.js';
import { rng } from './fixtures.js';

/** The definition, from scratch: XOR over pages of SHA-256(pgno u32 BE ‖ page)[0..16]. */
function fullRehash(image: Buffer, pageSize: number): Buffer {
  const acc = Buffer.alloc(16);
  for (let p = 1; p * pageSize <= image.length; p++) {
    const n = Buffer.alloc(4);
    n.writeUInt32BE(p);
    const h = createHash('sha256')
      .update(Buffer.concat([n, image.subarray((p - 1) * pageSize, p * pageSize)]))
      .digest();
    for (let i = 0; i < 16; i++) acc[i]! ^= h[i]!;
  }
  return acc;
}

test('pageHash is the first 16 bytes of SHA-256(pgno u32 BE ‖ page)', () => {
  const page = Buffer.alloc(512, 0x5a);
  const want = createHash('sha256')
    .update(Buffer.concat([Buffer.from([0, 0, 1, 2]), page]))
    .digest()
    .subarray(0, 16);
  assert.ok(pageHash(0x102, page).equals(want));
  assert.ok(!pageHash(0x103, page).equals(want), 'the page number is part of it');
});

test('property: after random writes, growth and truncations the rolling value equals a full rehash', () => {
  for (const seed of [1, 2, 3, 99]) {
    const next = rng(seed);
    const pageSize = 512;
    let image = Buffer.alloc(0);
    const r = new RollingChecksum(pageSize);
    for (let op = 0; op < 400; op++) {
      const pages = image.length / pageSize;
      const roll = next();
      if (roll < 0.7) {
        // Mostly inside the file, sometimes past its end (the gap stays zero pages).
        const pgno = 1 + Math.floor(next() * (pages + 6));
        const page =
          next() < 0.1
            ? Buffer.alloc(pageSize)
            : Buffer.from(createHash('sha512').update(`${seed}/${op}`).digest().toString('hex').repeat(4));
        if (pgno > pages) image = Buffer.concat([image, Buffer.alloc((pgno - pages) * pageSize)]);
        page.copy(image, (pgno - 1) * pageSize);
        r.setPage(pgno, page);
      } else {
        const size = Math.floor(next() * (pages + 4));
        image =
          size <= pages
            ? Buffer.from(image.subarray(0, size * pageSize))
            : Buffer.concat([image, Buffer.alloc((size - pages) * pageSize)]);
        r.truncate(size);
      }
      assert.equal(r.dbPages, image.length / pageSize, `seed ${seed} op ${op}: size`);
      assert.ok(r.value().equals(fullRehash(image, pageSize)), `seed ${seed} op ${op}: value`);
    }
    assert.ok(RollingChecksum.fromDatabaseImage(image, pageSize).value().equals(r.value()), `seed ${seed}`);
  }
});

test('an empty database is the zero checksum; value() is a copy', () => {
  const r = new RollingChecksum(4096);
  assert.ok(r.value().equals(Buffer.alloc(16)));
  r.setPage(1, Buffer.alloc(4096, 1));
  const v = r.value();
  v.fill(0);
  assert.ok(!r.value().equals(v));
  r.truncate(0);
  assert.ok(r.value().equals(Buffer.alloc(16)));
});

test('a table past its first allocation (thousands of pages) still matches', () => {
  const pageSize = 512;
  const image = Buffer.alloc(3000 * pageSize);
  for (let i = 0; i < image.length; i += 7) image[i] = i & 0xff;
  const r = new RollingChecksum(pageSize);
  for (let p = 3000; p >= 1; p -= 2) r.setPage(p, image.subarray((p - 1) * pageSize, p * pageSize));
  for (let p = 1; p <= 3000; p += 2) r.setPage(p, image.subarray((p - 1) * pageSize, p * pageSize));
  assert.ok(r.value().equals(fullRehash(image, pageSize)));
  assert.ok(RollingChecksum.fromDatabaseImage(image, pageSize).value().equals(r.value()));
});

test('bad input is refused', () => {
  assert.throws(() => new RollingChecksum(1000), RangeError);
  const r = new RollingChecksum(512);
  assert.throws(() => r.setPage(0, Buffer.alloc(512)), RangeError);
  assert.throws(() => r.setPage(1, Buffer.alloc(511)), RangeError);
  assert.throws(() => r.truncate(-1), RangeError);
  assert.throws(() => RollingChecksum.fromDatabaseImage(Buffer.alloc(513), 512), RangeError);
});
