/**
 * Cuts a byte stream into fixed-size chunks for the cipher streams (stream.ts). A chunk that lies
 * whole inside an incoming buffer *and* is followed by more bytes is handed on as a view of that
 * buffer (no copy); only the tail of each buffer is copied into one staging chunk, because a full
 * chunk at the very end of what has arrived may be the final one, which only the end of the input
 * tells. So a chunk is handed on only once a further byte exists, and the last one is left staged.
 */
export class Chunker {
  readonly size: number;
  readonly #staging: Buffer;
  #fill = 0;

  constructor(size: number) {
    this.size = size;
    this.#staging = Buffer.allocUnsafe(size);
  }

  /**
   * Hands on, in order, each chunk known not to be the last; stages the rest. `each` must be done
   * with a chunk when it returns: the staging chunk is reused.
   */
  take(data: Buffer, each: (chunk: Buffer) => void): void {
    const { size } = this;
    const length = data.length;
    let offset = 0;
    while (offset < length) {
      if (this.#fill === size) {
        each(this.#staging);
        this.#fill = 0;
      }
      if (this.#fill === 0 && length - offset > size) {
        each(data.subarray(offset, offset + size));
        offset += size;
        continue;
      }
      const n = Math.min(size - this.#fill, length - offset);
      data.copy(this.#staging, this.#fill, offset, offset + n);
      this.#fill += n;
      offset += n;
    }
  }

  /** What is staged: at the end of the input, the last chunk (0 to `size` bytes). */
  get staged(): Buffer {
    return this.#staging.subarray(0, this.#fill);
  }
}
