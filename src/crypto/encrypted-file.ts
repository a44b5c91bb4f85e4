import { randomBytes } from 'node:crypto';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { LifeboatError } from '../errors.js';
import { seal } from './aead.js';
import { chunkNonce, encodeHeader, encryptedStreamLength, NONCE_BYTES, STREAM_NONCE_PREFIX_BYTES, TAG_BYTES } from './format.js';
import type { EncryptionKey } from './keys.js';
import { checkedChunkKiB, checkKey } from './stream.js';

/**
 * A plaintext file seen as the cryptr stream it encrypts to (the same bytes EncryptStream
 * would produce with the same nonce prefix), readable at any byte range, any number of
 * times, concurrently. Chunk i of the stream depends only on the key, the prefix, i and
 * the plaintext of chunk i, so a range is produced by reading and sealing just the chunks
 * it touches.
 *
 * Why: an uploader can then send parts in parallel and resend a failed one by encrypting
 * its range again, instead of holding every part in memory until the server acknowledges
 * it. Memory per open range is one read batch, whatever the file size.
 *
 * Safety: the nonce prefix is fixed for the life of the source, so reading a range twice
 * must see the same plaintext, or two different plaintexts would be sealed under one nonce.
 * The file is only ever one of Lifeboat's snapshots, and every read checks that its size
 * and modification time are what they were when it was final; a changed file fails the
 * read with SOURCE_CHANGED instead of producing bytes.
 *
 * A snapshot may also be read while SQLite still copies it (`beingWritten`), so that the
 * upload overlaps the copy. A range is then read only once the file has grown past it, the
 * first chunk (it holds the header page, which SQLite writes last) only once the copy is
 * done. SQLite does not promise that a page it has written is never written again, so the
 * source does not trust those early bytes: it keeps the tag of every chunk sealed before
 * the copy was done, refuses to seal that chunk again from different bytes (a retried part
 * sees the same plaintext or nothing), and `confirmEarlyReads` seals each such chunk again
 * from the final file and compares the tags (in memory only: that second sealing never
 * leaves the process, so a different plaintext under the same nonce reveals nothing). Any
 * difference fails with COPY_REWRITTEN: the caller discards what it sent and starts over
 * with a new source, which draws a new nonce prefix.
 */

/** Structurally a storage RangeSource (crypto does not depend on storage). */
export interface EncryptedFileSource {
  /** Size of the encrypted stream (header, prefix, chunks and tags). */
  readonly size: number;
  /** Bytes [start, end) of the encrypted stream; the same bytes on every call. */
  open(start: number, end: number): Readable;
  readonly plainSize: number;
  readonly keyId: string;
  /**
   * Resolves once bytes [start, end) of the stream can be read without waiting for the
   * file to be written (at once for a finished file). Rejects if the copy fails.
   */
  available(start: number, end: number, signal?: AbortSignal): Promise<void>;
  /**
   * For a file that was being written: waits until it is done, then checks every chunk
   * sealed before that against the final bytes; rejects with COPY_REWRITTEN if one differs
   * (everything read so far must be discarded). Call it once every range has been read.
   */
  confirmEarlyReads(): Promise<void>;
  close(): Promise<void>;
}

/** A file still being written: it will have `size` bytes once `done` resolves. */
export interface FileBeingWritten {
  readonly size: number;
  readonly done: Promise<void>;
}

export interface EncryptedFileOptions {
  /** Plaintext chunk size in KiB (default 128, cryptr's default). */
  readonly chunkSizeKiB?: number;
  /** Fixed 7-byte nonce prefix, for known-answer tests only; random otherwise. */
  readonly noncePrefix?: Buffer;
  /** The file is still being written (see the safety notes above). */
  readonly beingWritten?: FileBeingWritten;
}

/**
 * Plaintext read and sealed per step of a range: 2 chunks of 128 KiB. A range holds about
 * two batches (its read buffer and the sealed pieces waiting for the socket), times the parts
 * in flight. Measured on Node 24, 1 GiB to S3 with 2 CPU hogs beside it (issue #6): 1 MiB
 * batches peaked at 131-149 MB RSS, 256 KiB at 125-128 MB, 128 KiB no lower; same speed.
 */
const BATCH_BYTES = 1 << 18;

/** How often a read waiting for a file being written looks at its size again. */
const POLL_MS = 20;

/** Chunks read per step when confirming early reads against the final file. */
const CONFIRM_CHUNKS = 8;

/** What is known of a chunk of a file that was being written. */
const enum Seen {
  Never = 0,
  /** Sealed from bytes read before the file was final: its tag is kept. */
  Early = 1,
  /** Sealed again from the final bytes, to the same tag. */
  Confirmed = 2,
}

export async function openEncryptedFile(path: string, key: EncryptionKey, options: EncryptedFileOptions = {}): Promise<EncryptedFileSource> {
  const kib = checkedChunkKiB(options.chunkSizeKiB);
  checkKey(key);
  if (options.noncePrefix && options.noncePrefix.length !== STREAM_NONCE_PREFIX_BYTES) throw new RangeError(`the nonce prefix must be ${STREAM_NONCE_PREFIX_BYTES} bytes`);
  const prefix = options.noncePrefix ? Buffer.from(options.noncePrefix) : randomBytes(STREAM_NONCE_PREFIX_BYTES);
  const fh = await openFile(path, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new LifeboatError('NOT_A_FILE', `${path} is not a file`);
    const writing = options.beingWritten;
    if (writing && (!Number.isSafeInteger(writing.size) || writing.size < 0)) throw new RangeError(`the announced size of ${path} is not a byte count: ${writing.size}`);
    return new Source(fh, path, key, prefix, kib * 1024, writing ? writing.size : st.size, writing ? writing.done : st.mtimeMs);
  } catch (err) {
    await fh.close();
    throw err;
  }
}

class Source implements EncryptedFileSource {
  readonly size: number;
  readonly keyId: string;
  private readonly header: Buffer;
  private readonly chunks: number;
  private closed = false;
  /** The file's modification time once its bytes are final; undefined while it is written. */
  private mtimeMs: number | undefined;
  /** Why a file being written can no longer be read (its copy failed or did not end as announced). */
  private failure: Error | undefined;
  private readonly sleepers = new Set<() => void>();
  /** Per chunk, for a file that was being written: what was sealed before it was final. */
  private readonly seen: Uint8Array | undefined;
  private readonly tags: Buffer | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly path: string,
    private readonly key: EncryptionKey,
    private readonly prefix: Buffer,
    private readonly chunkBytes: number,
    readonly plainSize: number,
    final: number | Promise<void>,
  ) {
    this.keyId = key.id;
    this.header = encodeHeader(key.id, chunkBytes / 1024, prefix);
    this.chunks = Math.max(1, Math.ceil(plainSize / chunkBytes));
    this.size = encryptedStreamLength(plainSize, key.id, chunkBytes / 1024);
    if (typeof final === 'number') {
      this.mtimeMs = final;
    } else {
      this.seen = new Uint8Array(this.chunks);
      this.tags = Buffer.alloc(this.chunks * TAG_BYTES);
      const written = final.then(
        async () => {
          const st = await this.fh.stat();
          if (st.size !== this.plainSize) throw this.rewritten(`the finished copy has ${st.size} bytes, not the ${this.plainSize} announced`);
          this.mtimeMs = st.mtimeMs;
        },
        (err: unknown) => {
          throw new LifeboatError('COPY_FAILED', `the copy into ${this.path} failed before it was complete; nothing is stored from it`, { cause: err });
        },
      );
      written
        .catch((err: unknown) => (this.failure = err as Error))
        .finally(() => {
          for (const wake of [...this.sleepers]) wake();
        });
    }
  }

  async available(start: number, end: number, signal?: AbortSignal): Promise<void> {
    if (this.mtimeMs !== undefined || end <= this.header.length) return;
    const segment = this.chunkBytes + TAG_BYTES;
    const first = Math.floor((Math.max(start, this.header.length) - this.header.length) / segment);
    const last = Math.floor((end - 1 - this.header.length) / segment);
    await this.whenWritten(first * this.chunkBytes, Math.min((last + 1) * this.chunkBytes, this.plainSize), signal);
  }

  async confirmEarlyReads(): Promise<void> {
    const { seen } = this;
    if (!seen) return;
    await this.whenWritten(0, this.plainSize);
    const buffer = Buffer.allocUnsafe(CONFIRM_CHUNKS * this.chunkBytes);
    const nonce = Buffer.allocUnsafe(NONCE_BYTES);
    for (let i = 0; i < this.chunks; ) {
      if (seen[i] !== Seen.Early) {
        i++;
        continue;
      }
      let j = i + 1;
      while (j < this.chunks && j - i < CONFIRM_CHUNKS && seen[j] === Seen.Early) j++;
      const start = i * this.chunkBytes;
      const plain = (await this.read(buffer.subarray(0, Math.min(j * this.chunkBytes, this.plainSize) - start), start)).bytes;
      for (let k = i; k < j; k++) {
        const piece = plain.subarray((k - i) * this.chunkBytes, Math.min((k - i + 1) * this.chunkBytes, plain.length));
        this.note(k, seal(this.key.key, chunkNonce(this.prefix, k, k === this.chunks - 1, nonce), piece)[1], false);
      }
      i = j;
    }
  }

  open(start: number, end: number): Readable {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > this.size) {
      throw new RangeError(`range [${start}, ${end}) is outside the ${this.size} bytes of the encrypted ${this.path}`);
    }
    if (this.closed) throw new LifeboatError('SOURCE_CLOSED', `the encrypted view of ${this.path} was already closed`);
    // One read buffer per range, reused batch after batch: only the sealed output leaves it
    // (cipher.update copies), so the plaintext need not become garbage for the GC to find.
    const cursor = { pos: start, end, nonce: Buffer.allocUnsafe(NONCE_BYTES), checked: false, buffer: undefined as Buffer | undefined };
    let busy = false;
    // One batch at a time, all its pieces pushed at once: a push per piece through an async
    // iterator cost as much CPU as the cipher.
    const stream: Readable = new Readable({
      highWaterMark: BATCH_BYTES,
      read: () => {
        if (busy) return;
        busy = true;
        this.batch(cursor).then(
          (pieces) => {
            busy = false;
            for (const piece of pieces) stream.push(piece);
            if (cursor.pos >= cursor.end) stream.push(null);
          },
          (err: unknown) => stream.destroy(err as Error),
        );
      },
    });
    return stream;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }

  /** The next pieces of a range (at most one read batch of chunks), advancing its cursor. */
  private async batch(cursor: { pos: number; end: number; nonce: Buffer; checked: boolean; buffer: Buffer | undefined }): Promise<Buffer[]> {
    if (!cursor.checked) {
      await this.checkUnchanged();
      cursor.checked = true;
    }
    const { end, nonce } = cursor;
    const out: Buffer[] = [];
    const headerBytes = this.header.length;
    if (cursor.pos < headerBytes) {
      const upTo = Math.min(end, headerBytes);
      if (upTo > cursor.pos) out.push(this.header.subarray(cursor.pos, upTo));
      cursor.pos = upTo;
    }
    if (cursor.pos >= end) return out;
    const segment = this.chunkBytes + TAG_BYTES;
    const perBatch = Math.max(1, Math.floor(BATCH_BYTES / this.chunkBytes));
    const first = Math.floor((cursor.pos - headerBytes) / segment);
    const lastNeeded = Math.floor((end - 1 - headerBytes) / segment);
    const count = Math.min(lastNeeded - first + 1, perBatch);
    const plainStart = first * this.chunkBytes;
    const length = Math.min(count * this.chunkBytes, this.plainSize - plainStart);
    cursor.buffer ??= Buffer.allocUnsafe(perBatch * this.chunkBytes);
    const { bytes: plain, early } = await this.read(cursor.buffer.subarray(0, length), plainStart);
    for (let i = 0; i < count && cursor.pos < end; i++) {
      const index = first + i;
      const piece = plain.subarray(i * this.chunkBytes, Math.min((i + 1) * this.chunkBytes, plain.length));
      const [body, tag] = seal(this.key.key, chunkNonce(this.prefix, index, index === this.chunks - 1, nonce), piece);
      this.note(index, tag, early);
      // This chunk's bytes in the stream: [at, at + body + tag).
      let at = headerBytes + index * segment;
      for (const part of [body, tag]) {
        const from = Math.max(cursor.pos, at) - at;
        const to = Math.min(end, at + part.length) - at;
        if (to > from) {
          out.push(from === 0 && to === part.length ? part : part.subarray(from, to));
          cursor.pos = at + to;
        }
        at += part.length;
      }
    }
    return out;
  }

  /** Fills `buf` from `offset`; `early` when the bytes were read before the file was final. */
  private async read(buf: Buffer, offset: number): Promise<{ bytes: Buffer; early: boolean }> {
    const length = buf.length;
    await this.whenWritten(offset, offset + length);
    const early = this.mtimeMs === undefined;
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw this.changed('it became shorter');
      done += bytesRead;
    }
    await this.checkUnchanged();
    return { bytes: buf, early };
  }

  /**
   * Keeps the tag of a chunk sealed from early bytes; any later sealing of that chunk must
   * give the same tag, or its bytes changed after they were sent (checked before the new
   * sealing's bytes go anywhere).
   */
  private note(index: number, tag: Buffer, early: boolean): void {
    const { seen, tags } = this;
    if (!seen || !tags) return;
    const kept = tags.subarray(index * TAG_BYTES, (index + 1) * TAG_BYTES);
    if (seen[index] === Seen.Never) {
      if (early) {
        tag.copy(kept);
        seen[index] = Seen.Early;
      }
      return;
    }
    if (!tag.equals(kept)) throw this.rewritten(`the bytes of chunk ${index} changed after they were read`);
    if (!early) seen[index] = Seen.Confirmed;
  }

  /**
   * Waits until plaintext [start, end) is written: the file has grown past it, or is final.
   * The first chunk waits for the end of the copy (SQLite writes the header page last).
   */
  private async whenWritten(start: number, end: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.mtimeMs !== undefined) return;
      if (signal?.aborted) throw signal.reason;
      if (start >= this.chunkBytes) {
        const { size } = await this.fh.stat();
        if (size > this.plainSize) throw this.rewritten(`the copy grew to ${size} bytes, past the ${this.plainSize} announced`);
        if (size >= end) return;
      }
      await this.sleep();
    }
  }

  /** Resolves after POLL_MS, or as soon as the file is final or failed. */
  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, POLL_MS);
      this.sleepers.add(wake);
    });
  }

  private async checkUnchanged(): Promise<void> {
    const st = await this.fh.stat();
    if (this.mtimeMs === undefined) {
      if (st.size > this.plainSize) throw this.rewritten(`the copy grew to ${st.size} bytes, past the ${this.plainSize} announced`);
      return;
    }
    if (st.size !== this.plainSize) throw this.changed(`its size went from ${this.plainSize} to ${st.size} bytes`);
    if (st.mtimeMs !== this.mtimeMs) throw this.changed('it was modified');
  }

  private rewritten(how: string): LifeboatError {
    return new LifeboatError('COPY_REWRITTEN', `the snapshot ${this.path} changed after parts of it were read while it was being copied (${how}); what was sent from it is discarded`, {
      hint: 'Lifeboat sends such a backup again from the finished file; if this repeats, report it',
    });
  }

  private changed(how: string): LifeboatError {
    return new LifeboatError('SOURCE_CHANGED', `${this.path} changed while it was being encrypted (${how}); nothing was stored from it`, {
      hint: 'only finished backups are pushed; another program wrote to the backups folder — run the backup again',
    });
  }
}
