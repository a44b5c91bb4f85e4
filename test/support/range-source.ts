/**
 * A RangeSource over deterministic bytes made on demand (nothing held in memory), which
 * counts how often ranges are opened and can be told to fail: for store tests.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { RangeSource } from '../../src/storage/store.js';

export interface PatternSource extends RangeSource {
  /** sha256 (hex) of all `size` bytes (computed when first asked). */
  readonly sha: string;
  /** Every [start, end) opened so far, in order. */
  readonly opened: Array<[number, number]>;
  /** The next stream that reaches byte `at` fails with `error` (once). */
  failAt(at: number, error: Error): void;
}

const BLOCK = 64 * 1024 + 7; // not a power of two: part and chunk edges fall mid-block

function block(seed: number): Buffer {
  const out = Buffer.alloc(BLOCK);
  for (let i = 0, n = 0; i < BLOCK; i += 32, n++) createHash('sha256').update(`${seed}:${n}`).digest().copy(out, i);
  return out;
}

/** The bytes [start, end) of the pattern. */
function* pieces(pattern: Buffer, start: number, end: number): Generator<Buffer> {
  let pos = start;
  while (pos < end) {
    const off = pos % BLOCK;
    const n = Math.min(BLOCK - off, end - pos);
    yield pattern.subarray(off, off + n);
    pos += n;
  }
}

export function patternSource(size: number, seed = 1): PatternSource {
  const pattern = block(seed);
  let sha: string | undefined;
  const opened: Array<[number, number]> = [];
  let fault: { at: number; error: Error } | undefined;
  return {
    size,
    get sha() {
      if (sha === undefined) {
        const h = createHash('sha256');
        for (const p of pieces(pattern, 0, size)) h.update(p);
        sha = h.digest('hex');
      }
      return sha;
    },
    opened,
    failAt(at, error) {
      fault = { at, error };
    },
    open(start, end) {
      opened.push([start, end]);
      const it = pieces(pattern, start, end);
      let pos = start;
      return new Readable({
        read() {
          const next = it.next();
          if (next.done) return void this.push(null);
          if (fault && fault.at >= pos && fault.at < pos + next.value.length) {
            const { error } = fault;
            fault = undefined;
            return void this.destroy(error);
          }
          pos += next.value.length;
          this.push(next.value);
        },
      });
    },
  };
}

/** A RangeSource over a Buffer (or text). */
export function bufferSource(data: Buffer | string): RangeSource {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return { size: bytes.length, open: (start, end) => Readable.from([bytes.subarray(start, end)]) };
}
