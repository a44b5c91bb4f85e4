import { Worker } from 'node:worker_threads';
import { droppedBuffers } from '../../memory.js';
import { threadEntry } from '../../threads.js';
import type { BrotliCompressor } from '../segment.js';

/**
 * Brotli for capture's segments on one thread of its own. Node's brotliCompress runs each call
 * on whichever of libuv's four pool threads is free, and glibc gives each thread its own
 * malloc arena: every arena grew to brotli's working set (~20 MB for a second of commits at
 * quality 4, the input included) and kept it. One thread keeps one working set: the capture
 * process's resident memory under load went from 168–191 MB to 147–159 (docs/benchmarks.md).
 * The thread starts with the first segment and does not keep the process alive while it has
 * nothing to do.
 */

export interface BrotliJob {
  readonly id: number;
  readonly raw: Buffer;
  readonly params: Record<number, number>;
}

/** The input comes back too, moved when it can be (so the thread holds no garbage). */
export type BrotliReply = { readonly id: number; readonly raw: Uint8Array } & (
  | { readonly ok: true; readonly out: Uint8Array }
  | { readonly ok: false; readonly message: string }
);

/** Whether `b` is all of its ArrayBuffer, so moving that to another thread takes nothing else with it. */
export function owns(b: Uint8Array): b is Uint8Array & { readonly buffer: ArrayBuffer } {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;
}

/** Its heap holds one message at a time; brotli's memory is native. */
const LIMITS = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 };
const ENTRY = threadEntry(import.meta.url, 'brotli-worker');

interface Waiting {
  readonly resolve: (out: Buffer) => void;
  readonly reject: (err: Error) => void;
}

export class BrotliThread {
  #worker: Worker | undefined;
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 0;

  readonly compress: BrotliCompressor = (raw, params) =>
    new Promise<Buffer>((resolve, reject) => {
      const worker = this.#start();
      const id = ++this.#nextId;
      this.#waiting.set(id, { resolve, reject });
      worker.ref();
      // A buffer that owns its whole ArrayBuffer moves to the thread instead of being copied; a
      // view into a shared one (Node's pool, a larger buffer) must be copied.
      const job: BrotliJob = { id, raw, params };
      worker.postMessage(job, owns(raw) ? [raw.buffer] : []);
    });

  /** Ends the thread; segments still being compressed are refused. */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) await worker.terminate();
    this.#fail(new Error('the compression thread was closed'));
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(ENTRY.entry, { eval: ENTRY.eval, resourceLimits: LIMITS });
    worker.on('message', (reply: BrotliReply) => {
      const waiting = this.#waiting.get(reply.id);
      if (!waiting) return;
      this.#waiting.delete(reply.id);
      if (this.#waiting.size === 0) worker.unref();
      droppedBuffers(reply.raw.byteLength);
      if (reply.ok) waiting.resolve(Buffer.from(reply.out.buffer, reply.out.byteOffset, reply.out.byteLength));
      else waiting.reject(new Error(`brotli: ${reply.message}`));
    });
    worker.on('error', (err) => this.#lost(worker, err));
    worker.on('exit', (code) => this.#lost(worker, new Error(`the compression thread exited (code ${code})`)));
    this.#worker = worker;
    return worker;
  }

  /** The thread died: what it had is refused, and the next segment starts a new one. */
  #lost(worker: Worker, err: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.#fail(err);
  }

  #fail(err: Error): void {
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(err);
  }
}
