import type { Logger } from '../../log.js';
import { createOwn, type PitrObjectStore } from '../../storage/object-store.js';
import { faultPoint } from '../fault.js';
import type { SealedSegment } from './segmenter.js';

/**
 * Sends sealed segments to the bucket one at a time, in seq order, each with `If-None-Match: *`
 * (P7): the chain in the bucket never has a hole that a later segment hides, and a second
 * writer of the same generation is caught by the first name it takes. An S3 outage only
 * delays: a failed request is tried again with a growing pause (at most `maxPauseMs`) and the
 * segments wait in memory; the capture's queue bound stops sealing before memory grows past it.
 * A name that exists holding other bytes is a fencing violation and stops the chain for good.
 */

export interface UploaderOptions {
  readonly log?: Logger;
  readonly onShipped?: (segment: ShippedSegment) => void;
  readonly onStopped?: (reason: string) => void;
  readonly maxPauseMs?: number;
  /** Runs before each request (the lease renewal); PITR_FENCED from it stops the chain. */
  readonly beforeSend?: () => Promise<void>;
}

interface Waiter {
  readonly txid: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** A segment the bucket acknowledged: its header, digest, WAL end, and whether it ends inside a transaction. */
export type ShippedSegment = Pick<SealedSegment, 'header' | 'digest' | 'walEnd'> & { readonly continues: boolean };

/** A sealed segment as it waits for the bucket. */
type QueuedSegment = ShippedSegment & Pick<SealedSegment, 'name' | 'ciphertext'>;

export class SegmentUploader {
  readonly #store: PitrObjectStore;
  readonly #o: UploaderOptions;
  readonly #queue: QueuedSegment[] = [];
  #queued = 0;
  #running = false;
  #stopped: string | undefined;
  #failures = 0;
  #lastError: string | undefined;
  #shipped = { txid: 0, ms: undefined as number | undefined };
  #sent = { segments: 0, bytes: 0 };
  #waiters: Waiter[] = [];
  #wake: (() => void) | undefined;

  constructor(store: PitrObjectStore, options: UploaderOptions = {}) {
    this.#store = store;
    this.#o = options;
  }

  enqueue(segment: SealedSegment): void {
    if (this.#stopped) return;
    // Only what is sent: the records (views of the frames read) and the plaintext are let go now.
    const last = segment.records.at(-1);
    this.#queue.push({
      name: segment.name,
      header: segment.header,
      digest: segment.digest,
      walEnd: segment.walEnd,
      continues: last?.type === 'tx' && last.continues,
      ciphertext: segment.ciphertext,
    });
    this.#queued += segment.ciphertext.length;
    if (!this.#running) void this.#run();
  }

  queuedBytes(): number {
    return this.#queued;
  }

  /** When the oldest transaction still waiting here was seen (undefined: nothing waits). */
  oldestQueuedMs(): number | undefined {
    return this.#queue[0]?.header.firstObservedMs;
  }

  shipped(): { txid: number; ms: number | undefined } {
    return { ...this.#shipped };
  }

  /** Segments the bucket acknowledged since this uploader started, and their bytes (ciphertext). */
  sent(): { segments: number; bytes: number } {
    return { ...this.#sent };
  }

  /** A base the bucket holds covers everything up to `txid`: what is shipped from then on. */
  shippedUpTo(txid: number, observedMs: number): void {
    if (txid > this.#shipped.txid) this.#shipped = { txid, ms: observedMs };
  }

  /** Whether the latest attempt failed (the bucket is unreachable or refusing). */
  failing(): boolean {
    return this.#failures > 0;
  }

  lastError(): string | undefined {
    return this.#stopped ?? this.#lastError;
  }

  /** Resolves when every segment up to `txid` is acknowledged; rejects if the chain stops first. */
  waitFor(txid: number, signal?: AbortSignal): Promise<void> {
    if (this.#shipped.txid >= txid || (this.#queue.length === 0 && !this.#running && !this.#stopped)) {
      return Promise.resolve();
    }
    if (this.#stopped) return Promise.reject(new Error(this.#stopped));
    // Aborted already (a flush whose ticks outlasted its bound): no abort event will come.
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const waiter = { txid, resolve, reject };
      this.#waiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Stops sending; what is queued stays unsent (the next start begins a new generation). */
  stop(reason = 'capture closed'): void {
    if (this.#stopped) return;
    this.#stopped = reason;
    this.#wake?.();
    for (const w of this.#waiters.splice(0)) w.reject(new Error(reason));
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#queue.length > 0 && !this.#stopped) {
        const segment = this.#queue[0]!;
        const done = await this.#send(segment);
        if (!done) continue;
        this.#queue.shift();
        this.#queued -= segment.ciphertext.length;
        this.#sent = { segments: this.#sent.segments + 1, bytes: this.#sent.bytes + segment.ciphertext.length };
        this.#shipped = { txid: segment.header.lastTxid, ms: segment.header.lastObservedMs };
        this.#o.onShipped?.(segment);
        this.#waiters = this.#waiters.filter((w) => {
          if (w.txid > this.#shipped.txid) return true;
          w.resolve();
          return false;
        });
      }
    } finally {
      this.#running = false;
      if (this.#queue.length === 0) for (const w of this.#waiters.splice(0)) w.resolve();
    }
  }

  /** One attempt; true when the bucket holds the segment. */
  async #send(segment: QueuedSegment): Promise<boolean> {
    try {
      await this.#o.beforeSend?.();
      // Each segment is sealed once: the same bytes in the bucket are an earlier attempt whose answer was lost.
      const made = await createOwn(this.#store, segment.name, segment.ciphertext);
      if (made.kind === 'written') {
        faultPoint('after-put');
        return this.#ok();
      }
      if (made.kind === 'exists') {
        this.#fenced(
          `${segment.name} already exists in ${this.#store.description} with other content: another writer ` +
            'ships this database',
        );
        return false;
      }
      throw new Error(`a concurrent conditional write to ${segment.name}`);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'PITR_FENCED') {
        this.#fenced((err as Error).message);
        return false;
      }
      this.#failures += 1;
      this.#lastError = (err as Error).message;
      const pause = Math.min(this.#o.maxPauseMs ?? 30_000, 250 * 2 ** Math.min(this.#failures - 1, 8));
      if (this.#failures === 1 || this.#failures % 10 === 0) {
        this.#o.log?.warn(
          { err, segment: segment.name, attempts: this.#failures, pauseMs: pause },
          'continuous backup: segment upload failed; trying again',
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pause);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      return false;
    }
  }

  #ok(): boolean {
    this.#failures = 0;
    this.#lastError = undefined;
    return true;
  }

  #fenced(reason: string): void {
    this.#o.onStopped?.(`fencing: ${reason}`);
    this.stop(reason);
  }
}
