import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createProgress } from '../../src/cli/progress.js';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough();
  let out = '';
  s.on('data', (d: Buffer) => (out += d.toString()));
  return { stream: Object.assign(s, { isTTY }) as unknown as NodeJS.WriteStream, text: () => out };
}

test('progress is drawn on a terminal, with percent and rate, and cleared at the end', async () => {
  const tty = fakeStream(true);
  const p = createProgress({ label: 'upload', total: 10 * 1048576, stream: tty.stream });
  p.update(5 * 1048576);
  p.done();
  await new Promise((r) => setImmediate(r));
  assert.match(tty.text(), /\rupload 50% 5\.0\/10\.0 MiB [\d.]+ MiB\/s/);
  assert.ok(tty.text().endsWith('\r\u001b[K'));
});

test('nothing is written when output is not a terminal (logs and pipes stay clean)', async () => {
  const pipe = fakeStream(false);
  const p = createProgress({ label: 'upload', total: 100, stream: pipe.stream });
  p.update(50);
  p.done();
  await new Promise((r) => setImmediate(r));
  assert.equal(pipe.text(), '');
});

test('work without a byte count (a database check) shows just its label', async () => {
  const tty = fakeStream(true);
  const p = createProgress({ label: 'checking', bytes: false, stream: tty.stream });
  p.update(0);
  p.done();
  await new Promise((r) => setImmediate(r));
  assert.equal(tty.text(), '\rchecking…\u001b[K\r\u001b[K');
});
