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
 * How: the `gc` function V8 installs with --expose-gc, taken once from a fresh vm context;
 * the flag is switched back off at once, so no context of the application gets a `gc`
 * global. Where the flag cannot be set (frozen flags), this does nothing.
 */

/** Bytes of dropped Buffers between two collections. */
export const COLLECT_EVERY_BYTES = 8 << 20;

type Collect = (options: { type: 'minor' | 'major'; execution: 'sync' }) => void;

let collect: Collect | null | undefined;
let since = 0;

function collector(): Collect | null {
  if (collect !== undefined) return collect;
  collect = null;
  // Started with --expose-gc: use the application's own, and leave the flag as it is.
  const own: unknown = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return (collect = own as Collect);
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

/** Counts `bytes` of Buffers just dropped; every COLLECT_EVERY_BYTES, a young-generation collection. */
export function droppedBuffers(bytes: number): void {
  since += bytes;
  if (since < COLLECT_EVERY_BYTES) return;
  since = 0;
  collector()?.({ type: 'minor', execution: 'sync' });
}
