import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createProgress } from '../../src/cli/progress.js';
import { createLogger } from '../../src/log.js';

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

/** A JSON logger into memory, and its records. */
function memoryLogger() {
  const out = fakeStream(false);
  const logger = createLogger({ format: 'json', stream: out.stream, env: {} });
  const records = () =>
    out
      .text()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, records };
}

test('off a terminal, progress is logged at each 10% step, never drawn', async () => {
  const pipe = fakeStream(false);
  const { logger, records } = memoryLogger();
  const total = 1000;
  const p = createProgress({ label: 'restore', total, stream: pipe.stream, logger });
  // Uneven chunks, many per step, one jump over two steps, and a piece sent again (bytes go back).
  for (let bytes = 0; bytes <= 430; bytes += 7) p.update(bytes);
  p.update(650);
  p.update(600);
  for (let bytes = 650; bytes <= total; bytes += 13) p.update(bytes);
  p.update(total);
  p.done();
  p.update(total);
  await new Promise((r) => setImmediate(r));
  assert.equal(pipe.text(), '', 'no carriage returns or escape codes in a pipe');
  const got = records();
  assert.deepEqual(
    got.map((r) => r.percent),
    [10, 20, 30, 40, 60, 70, 80, 90, 100],
  );
  for (const r of got) {
    assert.equal(r.level, 'info');
    assert.equal(r.stage, 'restore');
    assert.equal(r.total, total);
    assert.ok(typeof r.bytes === 'number' && (r.bytes as number) >= (r.percent as number) * 10, JSON.stringify(r));
    assert.match(String(r.msg), new RegExp(`^restore: ${r.percent}% `));
  }
});

test('off a terminal, a stage without a byte count logs once; an unknown total logs every 30 s', async () => {
  const { logger, records } = memoryLogger();
  const check = createProgress({ label: 'checking', bytes: false, stream: fakeStream(false).stream, logger });
  check.update(0);
  check.update(0);
  let t = 0;
  const open = createProgress({ label: 'download', stream: fakeStream(false).stream, logger, now: () => t });
  open.update(1);
  t = 29_999;
  open.update(2);
  t = 30_000;
  open.update(3 * 1048576);
  t = 45_000;
  open.update(4 * 1048576);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    records().map((r) => [r.stage, r.bytes, r.msg]),
    [
      ['checking', undefined, 'checking…'],
      ['download', 3 * 1048576, 'download: 3.00 MiB so far'],
    ],
  );
});

test('work without a byte count (a database check) shows just its label', async () => {
  const tty = fakeStream(true);
  const p = createProgress({ label: 'checking', bytes: false, stream: tty.stream });
  p.update(0);
  p.done();
  await new Promise((r) => setImmediate(r));
  assert.equal(tty.text(), '\rchecking…\u001b[K\r\u001b[K');
});
