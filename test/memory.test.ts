import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { test } from 'node:test';
import { runInNewContext } from 'node:vm';
import {
  COLLECT_EVERY_BYTES,
  droppedBuffers,
  enableGarbageCollection,
  FULL_COLLECT_CHECKS,
  FULL_COLLECT_GROWTH_BYTES,
  fullCollections,
  transferEnded,
} from '../src/memory.js';

/**
 * Collections of each kind that start while the synchronous `fn` runs. Entries arrive on a
 * later turn, with the collections the wait itself causes: only those inside fn's window count.
 */
async function collectionsDuring(fn: () => void): Promise<{ minor: number; major: number; forcedMajor: number }> {
  const seen = { minor: 0, major: 0, forcedMajor: 0 };
  let from = Infinity;
  let to = -Infinity;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.startTime < from || entry.startTime > to) continue;
      const detail = (entry as { detail?: { kind?: number; flags?: number } }).detail;
      if (detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) seen.minor++;
      if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        seen.major++;
        // Asked for (by memory.ts), not one V8 starts itself under the Buffers a test allocates.
        if ((detail.flags ?? 0) & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) seen.forcedMajor++;
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  from = performance.now();
  fn();
  to = performance.now();
  // gc entries are queued and delivered on a later turn; a timer tick lets them arrive
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return seen;
}

test('dropped buffers: nothing is collected, and no V8 flag touched, until the process opts in', async () => {
  // A library must not change process-wide behaviour unasked: this runs before any opt-in.
  const off = await collectionsDuring(() => droppedBuffers(4 * COLLECT_EVERY_BYTES));
  assert.equal(off.minor + off.major, 0, 'no collection forced');
  enableGarbageCollection();
});

const droppedBuffersYoung =
  'dropped buffers: a young-generation collection once COLLECT_EVERY_BYTES have been counted, not before';
test(droppedBuffersYoung, async () => {
  // Start from a known count: reaching the threshold resets it.
  droppedBuffers(COLLECT_EVERY_BYTES);
  const before = await collectionsDuring(() => droppedBuffers(COLLECT_EVERY_BYTES - 1));
  assert.equal(before.minor, 0, 'no collection is forced below the threshold');
  const at = await collectionsDuring(() => droppedBuffers(1));
  assert.ok(at.minor >= 1, 'the byte that reaches the threshold forces a minor collection');
});

const droppedBuffersFull =
  'dropped buffers: a full collection once Buffer memory stayed ' +
  'FULL_COLLECT_GROWTH_BYTES above its low point for FULL_COLLECT_CHECKS checks, not before';
test(droppedBuffersFull, async () => {
  const MiB = 1 << 20;
  const held: Buffer[] = [];
  const grow = (bytes: number) => {
    for (let i = 0; i < bytes / MiB; i++) held.push(Buffer.alloc(MiB, 1));
  };
  // A known start: a full collection resets what the tests before left (a low point, checks
  // above it; on Node 24 their Buffers are still counted). Then a check at the current level
  // makes it the low point. Margins on both sides: Buffers freed by V8's background sweeper
  // meanwhile lower the level.
  droppedBuffers(COLLECT_EVERY_BYTES);
  transferEnded();
  droppedBuffers(COLLECT_EVERY_BYTES);
  grow(2 * FULL_COLLECT_GROWTH_BYTES);
  // One reading above the threshold may be Buffers in flight: the growth must last.
  assert.ok(FULL_COLLECT_CHECKS > 1);
  // Counted by the module: V8 may run a full collection of its own under the Buffers allocated here.
  const fulls = fullCollections();
  for (let check = 1; check < FULL_COLLECT_CHECKS; check++) {
    droppedBuffers(COLLECT_EVERY_BYTES);
    assert.equal(fullCollections(), fulls, `check ${check} above the threshold: young collections only`);
  }
  const first = await collectionsDuring(() => droppedBuffers(COLLECT_EVERY_BYTES));
  assert.equal(fullCollections(), fulls + 1, 'the growth lasted: a full collection');
  assert.ok(first.forcedMajor >= 1, 'a full collection ran');
  // After a full collection the next check sets the low point, at the (still held) memory.
  grow(FULL_COLLECT_GROWTH_BYTES / 4);
  const below = await collectionsDuring(() => droppedBuffers(COLLECT_EVERY_BYTES));
  assert.equal(
    fullCollections(),
    fulls + 1,
    'a quarter of the growth since the full collection: young collections only',
  );
  assert.ok(below.minor >= 1);
  grow(FULL_COLLECT_GROWTH_BYTES + FULL_COLLECT_GROWTH_BYTES / 4);
  for (let check = 1; check < FULL_COLLECT_CHECKS; check++) droppedBuffers(COLLECT_EVERY_BYTES);
  const again = await collectionsDuring(() => droppedBuffers(COLLECT_EVERY_BYTES));
  assert.ok(again.forcedMajor >= 1, 'the threshold reached again and held: another full collection');
  assert.equal(held.length, (3.5 * FULL_COLLECT_GROWTH_BYTES) / MiB);
});

test('a transfer that ends: a full collection when COLLECT_EVERY_BYTES were dropped since the last one', async () => {
  // A known start: the count reaches the threshold (a collection), then any full collection it owes.
  droppedBuffers(COLLECT_EVERY_BYTES);
  transferEnded();
  droppedBuffers(COLLECT_EVERY_BYTES - 1);
  const short = await collectionsDuring(() => transferEnded());
  assert.equal(short.major + short.minor, 0, 'less than COLLECT_EVERY_BYTES since the last full collection');
  droppedBuffers(1); // a young collection: no full one is owed by then
  const due = await collectionsDuring(() => transferEnded());
  assert.ok(due.major >= 1, 'COLLECT_EVERY_BYTES since the last full collection: one now');
  const again = await collectionsDuring(() => transferEnded());
  assert.equal(again.major, 0, 'and not twice');
});

test('dropped buffers: no gc global is left behind, for this context or a new one', () => {
  droppedBuffers(COLLECT_EVERY_BYTES);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  assert.equal(runInNewContext('typeof gc'), 'undefined', 'the --expose-gc flag is switched off again');
});

test('dropped buffers: an application started with --expose-gc keeps its flag', () => {
  const script =
    `const m = await import(${JSON.stringify(new URL('../src/memory.ts', import.meta.url).href)}); ` +
    `m.enableGarbageCollection(); m.droppedBuffers(m.COLLECT_EVERY_BYTES); ` +
    `const vm = await import('node:vm'); console.log(vm.runInNewContext('typeof gc'));`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(out.trim(), 'function');
});
