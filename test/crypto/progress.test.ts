import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgress, formatEta } from '../../src/cli/progress.js';

const MiB = 1024 * 1024;

/** A fake terminal (or pipe): records every write synchronously. */
function fakeStream(isTTY: boolean, columns?: number): { stream: NodeJS.WriteStream; writes: string[] } {
  const writes: string[] = [];
  const stream = { isTTY, columns, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

test('draws bytes, percent, rate and ETA from the clock; throttled; clears its line at the end', () => {
  let now = 0;
  const { stream, writes } = fakeStream(true);
  const p = createProgress({ label: 'encrypting db', total: 100 * MiB, stream, intervalMs: 200, now: () => now });
  now = 2000;
  p.update(20 * MiB);
  assert.deepEqual(writes, ['\rencrypting db 20% 20.0/100.0 MiB 10.0 MiB/s eta 8 s\u001b[K']);
  now = 2100;
  p.update(21 * MiB);
  assert.equal(writes.length, 1, 'within the interval: not redrawn');
  now = 2200;
  p.update(22 * MiB);
  assert.equal(writes.length, 2);
  now = 2250;
  p.update(100 * MiB);
  assert.equal(writes.length, 3, 'the finished state is always drawn');
  assert.match(writes[2]!, /100% 100\.0\/100\.0 MiB [\d.]+ MiB\/s\u001b\[K$/);
  assert.doesNotMatch(writes[2]!, /eta/);
  p.done();
  p.done();
  assert.deepEqual(writes.slice(3), ['\r\u001b[K'], 'cleared once');
  p.update(1);
  assert.equal(writes.length, 4, 'nothing after done()');
});

test('without a total: bytes and rate only; a line wider than the terminal is cut, not wrapped', () => {
  let now = 0;
  const { stream, writes } = fakeStream(true, 30);
  const p = createProgress({ label: 'a-rather-long-label-for-a-narrow-terminal', stream, now: () => now });
  now = 1000;
  p.update(5 * MiB);
  assert.equal(writes[0], `\r${'a-rather-long-label-for-a-narrow-terminal 5.0 MiB 5.0 MiB/s'.slice(0, 29)}\u001b[K`);
  const wide = fakeStream(true);
  createProgress({ label: 'restore', stream: wide.stream, now: () => 1000 }).update(3 * MiB);
  assert.match(wide.writes[0]!, /^\rrestore 3\.0 MiB [\d.]+ MiB\/s\u001b\[K$/);
});

test('not a terminal: nothing is written, ever; nothing drawn means nothing to clear', () => {
  const pipe = fakeStream(false);
  const p = createProgress({ label: 'x', total: 10, stream: pipe.stream });
  p.update(5);
  p.update(10);
  p.done();
  assert.deepEqual(pipe.writes, []);
  const tty = fakeStream(true);
  createProgress({ label: 'x', stream: tty.stream }).done();
  assert.deepEqual(tty.writes, []);
});

test('ETA reads well from seconds to hours', () => {
  assert.equal(formatEta(0.4), '0 s');
  assert.equal(formatEta(59), '59 s');
  assert.equal(formatEta(65), '1 min 05 s');
  assert.equal(formatEta(3599), '59 min 59 s');
  assert.equal(formatEta(7260), '2 h 01 min');
  assert.equal(formatEta(Number.POSITIVE_INFINITY), '?');
});
