import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { runInNewContext } from 'node:vm';
import { COLLECT_EVERY_BYTES, droppedBuffers } from '../src/memory.js';

/**
 * Young-generation collections that start while the synchronous `fn` runs. Entries arrive on
 * a later turn, with the collections the wait itself causes: only those inside fn's window count.
 */
async function minorCollectionsDuring(fn: () => void): Promise<number> {
  let minor = 0;
  let from = Infinity;
  let to = -Infinity;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR && entry.startTime >= from && entry.startTime <= to) minor++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  from = performance.now();
  fn();
  to = performance.now();
  // gc entries are queued and delivered on a later turn; a timer tick lets them arrive
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return minor;
}

test('dropped buffers: a young-generation collection once COLLECT_EVERY_BYTES have been counted, not before', async () => {
  // Start from a known count: reaching the threshold resets it.
  droppedBuffers(COLLECT_EVERY_BYTES);
  const before = await minorCollectionsDuring(() => droppedBuffers(COLLECT_EVERY_BYTES - 1));
  assert.equal(before, 0, 'no collection is forced below the threshold');
  const at = await minorCollectionsDuring(() => droppedBuffers(1));
  assert.ok(at >= 1, 'the byte that reaches the threshold forces a minor collection');
});

test('dropped buffers: no gc global is left behind, for this context or a new one', () => {
  droppedBuffers(COLLECT_EVERY_BYTES);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  assert.equal(runInNewContext('typeof gc'), 'undefined', 'the --expose-gc flag is switched off again');
});

test('dropped buffers: an application started with --expose-gc keeps its flag', () => {
  const script = `const m = await import(${JSON.stringify(new URL('../src/memory.ts', import.meta.url).href)}); m.droppedBuffers(m.COLLECT_EVERY_BYTES); const vm = await import('node:vm'); console.log(vm.runInNewContext('typeof gc'));`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(out.trim(), 'function');
});
