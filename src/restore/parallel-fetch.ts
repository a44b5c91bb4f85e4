import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { buffer } from 'node:stream/consumers';
import { type ChunkLayout, chunkLayout, chunkRange, HEAD_BYTES, openChunk } from '../crypto/chunks.js';
import type { KeyLookup } from '../crypto/stream.js';
import { LifeboatError } from '../errors.js';
import type { BackupStore } from '../storage/store.js';

/**
 * An encrypted backup downloaded as parallel ranges and written where each chunk belongs: the
 * restore then runs at the speed of several connections instead of one (issue #18). Memory is
 * bounded by the ranges in flight: each is streamed, one chunk opened at a time, and written at
 * its offset. A range that fails (a reset, a stall) is fetched again from its first chunk not
 * yet written; authentication failures are not retried — the data itself is bad. The plaintext
 * is hashed in order by reading back, behind the download, what has been written contiguously.
 */

export interface ParallelFetch {
  readonly store: BackupStore;
  readonly name: string;
  /** The object's size (from list or stat). */
  readonly size: number;
  readonly keys: KeyLookup;
  /** A new file (created with O_EXCL), 0600. */
  readonly target: string;
  readonly parallel?: number;
  /** Sealed bytes per range; rounded to whole chunks. */
  readonly rangeBytes?: number;
  readonly maxAttempts?: number;
  readonly signal?: AbortSignal | undefined;
  /** Plaintext bytes written so far, and the total. */
  readonly onProgress?: ((bytes: number, total: number) => void) | undefined;
  /** Called once bytes are on disk (the crash tests' `during-materialise`). */
  readonly onWritten?: (() => void) | undefined;
}

const MiB = 1024 * 1024;

export async function fetchParallel(f: ParallelFetch): Promise<{ bytes: number; sha256: string }> {
  const head = await buffer(
    await f.store.get(f.name, { start: 0, end: Math.min(f.size, HEAD_BYTES) }, { signal: f.signal }),
  );
  const layout = chunkLayout(head, f.size, f.keys);
  const perRange = Math.max(1, Math.floor((f.rangeBytes ?? 8 * MiB) / layout.segmentBytes));
  const jobs: Array<{ first: number; end: number }> = [];
  for (let first = 0; first < layout.chunks; first += perRange) {
    jobs.push({ first, end: Math.min(layout.chunks, first + perRange) });
  }
  // Read as well as written: the hasher reads back what was written.
  const fh = await open(f.target, 'wx+', 0o600);
  const done = new Uint8Array(layout.chunks);
  const hasher = orderedHasher(fh, layout, done);
  // One failed range stops the others at their next chunk: the restore has failed anyway.
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(f.signal?.reason);
  f.signal?.addEventListener('abort', onOuterAbort, { once: true });
  try {
    let written = 0;
    let failure: { error: unknown } | undefined;
    let next = 0;
    const worker = async () => {
      while (!failure && next < jobs.length) {
        const job = jobs[next++]!;
        try {
          await fetchJob({ ...f, signal: stop.signal }, layout, fh, job, (chunk, bytes) => {
            done[chunk] = 1;
            written += bytes;
            f.onWritten?.();
            f.onProgress?.(written, layout.plainSize);
            hasher.poke();
          });
        } catch (error) {
          failure ??= { error: f.signal?.aborted ? f.signal.reason : error };
          stop.abort(error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(f.parallel ?? 4, jobs.length) }, worker));
    if (failure) throw failure.error;
    await fh.truncate(layout.plainSize); // an empty final chunk writes nothing
    const sha256 = await hasher.finish();
    await fh.sync();
    return { bytes: layout.plainSize, sha256 };
  } finally {
    f.signal?.removeEventListener('abort', onOuterAbort);
    await hasher.settled();
    await fh.close();
  }
}

/** One range of chunks, streamed and written; fetched again from the first unwritten chunk after a transfer failure. */
async function fetchJob(
  f: ParallelFetch,
  layout: ChunkLayout,
  fh: FileHandle,
  job: { first: number; end: number },
  onChunk: (index: number, bytes: number) => void,
): Promise<void> {
  let index = job.first;
  const attempts = f.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    if (f.signal?.aborted) throw f.signal.reason;
    try {
      const start = chunkRange(layout, index).start;
      const end = chunkRange(layout, job.end - 1).end;
      const body = await f.store.get(f.name, { start, end }, { signal: f.signal });
      const abort = () => body.destroy(f.signal?.reason as Error);
      f.signal?.addEventListener('abort', abort, { once: true });
      try {
        const staging = Buffer.allocUnsafe(layout.segmentBytes);
        let fill = 0;
        for await (const piece of body as AsyncIterable<Buffer>) {
          let at = 0;
          while (at < piece.length) {
            const want = chunkRange(layout, index).end - chunkRange(layout, index).start;
            const n = Math.min(want - fill, piece.length - at);
            piece.copy(staging, fill, at, at + n);
            fill += n;
            at += n;
            if (fill === want) {
              const plain = openChunk(layout, index, staging.subarray(0, want));
              await fh.write(plain, 0, plain.length, index * layout.chunkBytes);
              onChunk(index, plain.length);
              index++;
              fill = 0;
            }
          }
        }
        if (index < job.end)
          throw new LifeboatError('TRUNCATED', `the download of ${f.name} ended early at chunk ${index}`);
        return;
      } finally {
        f.signal?.removeEventListener('abort', abort);
      }
    } catch (err) {
      // The data is bad, or we were told to stop: fetching it again cannot help.
      const code = err instanceof LifeboatError ? err.code : undefined;
      const final = code === 'AUTH_FAILED' || code === 'NOT_FOUND' || code === 'S3_AUTH' || f.signal?.aborted;
      if (final || attempt >= attempts) throw err;
    }
  }
}

/** Hashes the plaintext in order, reading back each contiguous run of written chunks behind the download. */
function orderedHasher(
  fh: FileHandle,
  layout: ChunkLayout,
  done: Uint8Array,
): { poke(): void; finish(): Promise<string>; settled(): Promise<void> } {
  const hash = createHash('sha256');
  let nextChunk = 0;
  let running: Promise<void> | undefined;
  let again = false;
  const buf = Buffer.allocUnsafe(Math.max(layout.chunkBytes, 1) * 8);
  const drain = async (): Promise<void> => {
    do {
      again = false;
      while (nextChunk < layout.chunks && done[nextChunk]) {
        let upTo = nextChunk;
        while (upTo < layout.chunks && done[upTo] && upTo - nextChunk < 8) upTo++;
        const from = nextChunk * layout.chunkBytes;
        const length = Math.min(upTo * layout.chunkBytes, layout.plainSize) - from;
        let got = 0;
        while (got < length) {
          const { bytesRead } = await fh.read(buf, got, length - got, from + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        hash.update(buf.subarray(0, got));
        nextChunk = upTo;
      }
    } while (again);
  };
  return {
    poke() {
      if (running) {
        again = true;
        return;
      }
      running = drain().finally(() => {
        running = undefined;
      });
      running.catch(() => undefined); // a read error surfaces in finish()
    },
    /** Waits for a read in flight, whatever its outcome (before the file is closed). */
    async settled() {
      while (running) await running.catch(() => undefined);
    },
    async finish() {
      while (running) await running;
      await drain();
      return hash.digest('hex');
    },
  };
}
