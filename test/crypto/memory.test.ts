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
test('memory stays flat while 200 MiB go through encrypt → decrypt in one process', async () => {
  const MiB = 1024 * 1024;
  const total = 200;
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
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakHeap = before.heapUsed + before.external;
  let bytes = 0;
  const sink = new Writable({
    highWaterMark: MiB,
    write(chunk: Buffer, _e, done) {
      got.update(chunk);
      bytes += chunk.length;
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed + m.external);
      done();
    },
  });
  await pipeline(source, createEncryptStream(KEY), createDecryptStream(KEYS), sink);
  assert.equal(bytes, total * MiB);
  assert.equal(got.digest('hex'), expected.digest('hex'));
  const rssGrowth = (peakRss - before.rss) / MiB;
  const jsGrowth = (peakHeap - (before.heapUsed + before.external)) / MiB;
  assert.ok(rssGrowth < 64, `RSS grew by ${rssGrowth.toFixed(1)} MiB while streaming ${total} MiB`);
  assert.ok(jsGrowth < 64, `heap + external memory grew by ${jsGrowth.toFixed(1)} MiB while streaming ${total} MiB`);
});
