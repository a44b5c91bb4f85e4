import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Returns the memory of dropped Buffers to the system while gigabytes stream through: every
 * chunk sealed or opened is a fresh Buffer (node:crypto cannot write into a caller's buffer),
 * whose bytes outside the JS heap are freed only when V8 collects the small object that owns
 * them — on Node 24 only after hundreds of MiB. The measurements behind the numbers here are
 * in docs/benchmarks.md ("Memory").
 *
 * Forcing collections and touching V8 flags affect the whole process, so this does nothing
 * until `enableGarbageCollection()` is called: the CLI does, a host application may
 * (`Lifeboat.open({ collectGarbage: true })`).
 */

/** Bytes of dropped Buffers between two collections. */
export const COLLECT_EVERY_BYTES = 8 << 20;

/** Growth of ArrayBuffer memory above its low point that starts a full collection. */
export const FULL_COLLECT_GROWTH_BYTES = 16 << 20;

/**
 * Checks in a row the growth must last. One reading swings by tens of MiB (Buffers in flight
 * on several sockets, dead ones a background thread has not freed yet): judged alone, a
 * 1 GiB restore ran a full collection every other check, 121 of them, ~1.5 s of CPU
 * (docs/benchmarks.md). Promoted garbage only piles up, so it lifts every reading.
 */
export const FULL_COLLECT_CHECKS = 3;

type Collect = (options?: { type: 'minor'; execution: 'sync' }) => void;

let enabled = false;
let collect: Collect | null | undefined;
let since = 0;
/** Bytes of Buffers dropped since the last full collection. */
let sinceFull = 0;
/** Lowest ArrayBuffer memory seen at a check since the last full collection. */
let low: number | undefined;
/** Checks in a row whose reading was FULL_COLLECT_GROWTH_BYTES above the low point. */
let grown = 0;
/** Full collections run (collectFully). */
let fullCount = 0;

/** Opts this process in (see above). */
export function enableGarbageCollection(): void {
  enabled = true;
}

/**
 * The `gc` function V8 installs with --expose-gc, taken once from a fresh vm context; the
 * flag is switched back off at once, so no context of the application gets a `gc` global.
 * An application started with --expose-gc keeps its own. Null where flags are frozen.
 */
function collector(): Collect | null {
  if (collect !== undefined) return collect;
  collect = null;
  const own: unknown = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') {
    collect = own as Collect;
    return collect;
  }
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    if (typeof gc === 'function') collect = gc as Collect;
  } catch {
    // no collector: memory is still freed, only later
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  return collect;
}

/**
 * Counts `bytes` of Buffers just dropped; every COLLECT_EVERY_BYTES, a young-generation
 * collection, and a full one when Buffers promoted to the old generation (chunks that waited
 * for a slow socket through two young collections) have piled up: growth above the low
 * point, not a level, so an application holding many Buffers of its own is not collected at
 * every check.
 */
export function droppedBuffers(bytes: number): void {
  if (!enabled) return;
  since += bytes;
  sinceFull += bytes;
  if (since < COLLECT_EVERY_BYTES) return;
  since = 0;
  const gc = collector();
  if (!gc) return;
  // Read before the collection: V8 frees the Buffers a collection found dead on a background
  // thread, so a reading just after one still counts them.
  const buffers = process.memoryUsage().arrayBuffers;
  low = Math.min(low ?? buffers, buffers);
  grown = buffers - low < FULL_COLLECT_GROWTH_BYTES ? 0 : grown + 1;
  if (grown < FULL_COLLECT_CHECKS) {
    gc({ type: 'minor', execution: 'sync' });
    return;
  }
  collectFully(gc);
}

/**
 * A large transfer ended (an upload committed): its last Buffers, fewer than a collection's
 * worth or promoted to the old generation while parts waited for the network, are dropped now
 * and would otherwise wait for whatever comes next — continuous backup's first second of
 * commits after a base, say, whose own Buffers then pile on top (docs/benchmarks.md). A full
 * collection, when at least COLLECT_EVERY_BYTES went through since the last one.
 */
export function transferEnded(): void {
  if (!enabled || sinceFull < COLLECT_EVERY_BYTES) return;
  const gc = collector();
  if (gc) collectFully(gc);
}

/** Full collections this module ran (tests; V8's own are not counted). */
export function fullCollections(): number {
  return fullCount;
}

/** A full collection, after which every count starts again. */
function collectFully(gc: Collect): void {
  fullCount++;
  // No options: a full collection on every V8 (Node 20's treats { type: 'major' } as minor).
  gc();
  low = undefined;
  grown = 0;
  since = 0;
  sinceFull = 0;
}
