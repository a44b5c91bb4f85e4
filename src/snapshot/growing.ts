import { LifeboatError } from '../errors.js';

/**
 * A snapshot copy while it is being written, for a reader that may start before it ends (the
 * push). Only the file-speed copy offers one: it writes the file front to back, each byte once
 * and final, so a range can be read as soon as the copy is past it.
 */
export interface GrowingFile {
  /** The size the file will have. */
  readonly size: number;
  /** Resolves once bytes [0, end) are written; rejects when they never will be as announced. */
  written(end: number): Promise<void>;
  /** The file's modification time once the copy is done (undefined before): it must not change after. */
  finalMtimeMs(): number | undefined;
}

export class GrowingImage implements GrowingFile {
  #written = 0;
  #mtimeMs: number | undefined;
  #failure: Error | undefined;
  #waiters: Array<{ end: number; resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(
    readonly size: number,
    private readonly path: string,
  ) {}

  written(end: number): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (end <= this.#written) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ end, resolve, reject }));
  }

  finalMtimeMs(): number | undefined {
    return this.#mtimeMs;
  }

  /** The copy is done: all of it is written, and this is its modification time. */
  finish(mtimeMs: number): void {
    this.#mtimeMs = mtimeMs;
    this.advance(this.size);
  }

  /** The first `bytes` are written. */
  advance(bytes: number): void {
    this.#written = Math.max(this.#written, Math.min(bytes, this.size));
    const ready = this.#waiters.filter((w) => w.end <= this.#written);
    this.#waiters = this.#waiters.filter((w) => w.end > this.#written);
    for (const w of ready) w.resolve();
  }

  /** The copy failed, or was redone another way: nothing more will be written as announced. */
  fail(cause?: unknown): void {
    this.#failure ??=
      cause instanceof Error
        ? cause
        : new LifeboatError('SOURCE_CHANGED', `the copy ${this.path} was redone while it was being read`);
    for (const w of this.#waiters.splice(0)) w.reject(this.#failure);
  }
}
