import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import type { EncryptionKey, KeySet } from '../../src/crypto/keys.js';
import { createDecryptStream, createEncryptStream } from '../../src/crypto/stream.js';

const KEY: EncryptionKey = { id: 'mem', key: randomBytes(32) };
const KEYS: KeySet = { active: KEY, ids: ['mem'], get: (id) => (id === 'mem' ? KEY : undefined) };

// Its own file, so it runs in its own process and its baseline is not another test's garbage.
// Flat means: three times the data does not raise the peak. The absolute bound is loose on
// purpose, because Node 24's collector lets garbage pile up longer than Node 20's.
async function stream(total: number): Promise<{ peakRss: number; peakJs: number }> {
  const MiB = 1024 * 1024;
  const blocks = [randomBytes(MiB), randomBytes(MiB)];
  // Odd piece sizes, so chunks straddle pieces on both sides.
  const source = Readable.from(
    (function* () {
      for (let i = 0; i < total; i++) {
        const b = blocks[i % 2]!;
        yield b.subarray(0, 300_001);
        yield b.subarray(300_001);
      }
    })(),
  );
  const expected = createHash('sha256');
  for (let i = 0; i < total; i++) expected.update(blocks[i % 2]!);
  const got = createHash('sha256');
  let peakRss = 0;
  let peakJs = 0;
  let bytes = 0;
  const sink = new Writable({
    highWaterMark: MiB,
    write(chunk: Buffer, _e, done) {
      got.update(chunk);
      bytes += chunk.length;
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakJs = Math.max(peakJs, m.heapUsed + m.external);
      done();
    },
  });
  await pipeline(source, createEncryptStream(KEY), createDecryptStream(KEYS), sink);
  assert.equal(bytes, total * MiB);
  assert.equal(got.digest('hex'), expected.digest('hex'));
  return { peakRss, peakJs };
}

test('memory stays flat: 600 MiB through encrypt → decrypt peaks no higher than 200 MiB did', async () => {
  const MiB = 1024 * 1024;
  const before = process.memoryUsage();
  const small = await stream(200);
  const large = await stream(600);
  const growth = (large.peakRss - small.peakRss) / MiB;
  assert.ok(growth < 32, `peak RSS rose by ${growth.toFixed(1)} MiB from 200 MiB to 600 MiB of data`);
  assert.ok((large.peakJs - small.peakJs) / MiB < 32, 'heap + external peak rose with the amount of data');
  const absolute = (large.peakRss - before.rss) / MiB;
  assert.ok(absolute < 128, `RSS grew by ${absolute.toFixed(1)} MiB while streaming 800 MiB`);
});
