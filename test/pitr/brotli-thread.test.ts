import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { brotliDecompressSync, constants as zlib } from 'node:zlib';
import { BrotliThread } from '../../src/pitr/capture/brotli-thread.js';

const PARAMS = { [zlib.BROTLI_PARAM_QUALITY]: 4, [zlib.BROTLI_PARAM_LGWIN]: 22 };

/** Compressible like WAL frames: the same pages again and again, with a few bytes changed. */
function framesLike(bytes: number): Buffer {
  const page = randomBytes(4096);
  const out = Buffer.alloc(bytes);
  for (let o = 0; o < bytes; o += 4096) {
    page.copy(out, o);
    out.writeUInt32BE(o, o);
  }
  return out;
}

test('the compression thread: its output decompresses to the input; jobs in flight together all answer', async () => {
  const thread = new BrotliThread();
  try {
    const inputs = [framesLike(3 * 1024 * 1024), framesLike(100 * 1024), Buffer.from('x')];
    const copies = inputs.map((b) => Buffer.from(b));
    const outs = await Promise.all(inputs.map((b) => thread.compress(b, PARAMS)));
    outs.forEach((out, i) => {
      assert.ok(brotliDecompressSync(out).equals(copies[i]!), `input ${i}`);
    });
    assert.ok(outs[0]!.length < copies[0]!.length / 20, 'compressed');
  } finally {
    await thread.close();
  }
});

test('a buffer owning its memory moves to the thread; a view into shared memory is copied and left alone', async () => {
  const thread = new BrotliThread();
  try {
    const own = framesLike(64 * 1024);
    await thread.compress(own, PARAMS);
    assert.equal(own.buffer.byteLength, 0, 'moved (detached), not copied');
    const shared = Buffer.alloc(1024 * 1024, 7);
    const view = shared.subarray(4096, 8192);
    const out = await thread.compress(view, PARAMS);
    assert.equal(shared.buffer.byteLength, 1024 * 1024, 'the larger buffer is still usable');
    assert.ok(brotliDecompressSync(out).equals(Buffer.alloc(4096, 7)));
  } finally {
    await thread.close();
  }
});

test('close() refuses jobs in flight; a closed thread starts again for the next job', async () => {
  const thread = new BrotliThread();
  const pending = thread.compress(framesLike(8 * 1024 * 1024), PARAMS);
  await thread.close();
  await assert.rejects(pending, /closed/);
  const out = await thread.compress(Buffer.from('again'), PARAMS);
  assert.equal(brotliDecompressSync(out).toString(), 'again');
  await thread.close();
});

test('an idle thread does not keep the process alive', async () => {
  const url = new URL('../../src/pitr/capture/brotli-thread.ts', import.meta.url).href;
  const script =
    `const { BrotliThread } = await import(${JSON.stringify(url)});` +
    "const out = await new BrotliThread().compress(Buffer.from('bye'), {});" +
    'console.log(out.length > 0 ? "compressed" : "empty");';
  // Never closed: the child must still exit once its work is done (execFile's timeout fails it otherwise).
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    {
      timeout: 60_000,
    },
  );
  assert.equal(stdout.trim(), 'compressed');
});
