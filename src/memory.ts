import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Returns the memory of dropped Buffers to the system while gigabytes stream through.
 *
 * Why: every 128 KiB chunk sealed or opened is a fresh Buffer (node:crypto has no way to
 * write into a caller's buffer), dropped as soon as the socket or file took it. Its bytes
 * live outside the JS heap and are freed only when the small object that owns them is
 * collected. Node 24's young generation is large next to those objects, so it fills (and
 * is collected) only after hundreds of MiB have passed: a 1 GiB backup pushed to S3 peaked
 * at 175-185 MB RSS on Node 24 against 131 MB on Node 20 (issue #6, target < 150 MB).
 * A young-generation collection every 8 MiB sealed or opened (about a millisecond each)
 * frees them: 130 MB on Node 24 and 121 on Node 20 for that backup; a restore went from
 * ~200 to ~155 MB on Node 24. Every 2 MiB was worse (buffers still in flight get promoted
 * to the old generation), every 16 MiB ~10 MB worse. `--max-semi-space-size=1` helps too,
 * but only as a flag at process start, which an embedding application cannot be asked for.
 *
 * A chunk still waiting for a slow socket when a collection runs survives it, and after two
 * it is promoted to the old generation, where only a full collection frees it. V8's own full
 * collections did not keep up: sampling a 4 GiB backup to S3 showed ArrayBuffer memory
 * climbing from ~4 to ~39 MiB, and RSS with it, between two of them. So at each check, once
 * ArrayBuffer memory has grown FULL_COLLECT_GROWTH_BYTES above its low point, a full
 * collection runs instead of the young one (~10 ms). That 4 GiB backup: ArrayBuffers at most
 * 20 MiB, peak RSS 125-129 MB, against 125-146 MB in 6 runs without. Growth, not a level:
 * an application holding many Buffers of its own does not make every check collect. The
 * level is read before the collection (see droppedBuffers): read after it, it made a full
 * collection run at almost every check of a file -> cipher stream (1.7 -> 5.9 CPU-s per GiB).
 *
 * How: the `gc` function V8 installs with --expose-gc, taken once from a fresh vm context;
 * the flag is switched back off at once, so no context of the application gets a `gc`
 * global. Where the flag cannot be set (frozen flags), this does nothing.
 */

/** Bytes of dropped Buffers between two collections. */
export const COLLECT_EVERY_BYTES = 8 << 20;

type Collect = (options?: { type: 'minor'; execution: 'sync' }) => void;

let collect: Collect | null | undefined;
let since = 0;

function collector(): Collect | null {
  if (collect !== undefined) return collect;
  collect = null;
  // Started with --expose-gc: use the application's own, and leave the flag as it is.
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

/** Growth of ArrayBuffer memory above its low point that starts a full collection. */
export const FULL_COLLECT_GROWTH_BYTES = 16 << 20;

/** Lowest ArrayBuffer memory seen at a check since the last full collection. */
let low: number | undefined;

/**
 * Counts `bytes` of Buffers just dropped; every COLLECT_EVERY_BYTES, a young-generation
 * collection, and a full one when promoted Buffers have piled up (see above).
 */
export function droppedBuffers(bytes: number): void {
  since += bytes;
  if (since < COLLECT_EVERY_BYTES) return;
  since = 0;
  const gc = collector();
  if (!gc) return;
  // Read before the collection: V8 frees the Buffers a collection found dead on a background
  // thread, so a reading just after one still counts them. Before it, the young garbage of
  // one interval is counted every time, and what grows from check to check is the pile.
  const buffers = process.memoryUsage().arrayBuffers;
  low = Math.min(low ?? buffers, buffers);
  if (buffers - low < FULL_COLLECT_GROWTH_BYTES) {
    gc({ type: 'minor', execution: 'sync' });
    return;
  }
  // No options: a full collection on every V8 (Node 20's treats { type: 'major' } as minor).
  gc();
  low = undefined;
}
