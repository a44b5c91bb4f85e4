import { randomBytes } from 'node:crypto';
import { type FileHandle, open as openFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { LifeboatError } from '../errors.js';
import { seal } from './aead.js';
import {
  chunkNonce,
  encodeHeader,
  encryptedStreamLength,
  NONCE_BYTES,
  STREAM_NONCE_PREFIX_BYTES,
  TAG_BYTES,
} from './format.js';
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
 * The file is only ever one of Lifeboat's snapshots, and every read checks that its size and
 * modification time are what they were at open; a changed file fails the read with
 * SOURCE_CHANGED instead of producing bytes. A snapshot still being copied (`growing`) is
 * read only where its copy says it is written, once and for good.
 */

/** Structurally a storage RangeSource (crypto does not depend on storage). */
export interface EncryptedFileSource {
  /** Size of the encrypted stream (header, prefix, chunks and tags). */
  readonly size: number;
  /** Bytes [start, end) of the encrypted stream; the same bytes on every call. */
  open(start: number, end: number): Readable;
  readonly plainSize: number;
  readonly keyId: string;
  close(): Promise<void>;
}

export interface EncryptedFileOptions {
  /** Plaintext chunk size in KiB (default 128, cryptr's default). */
  readonly chunkSizeKiB?: number;
  /** Fixed 7-byte nonce prefix, for known-answer tests only; random otherwise. */
  readonly noncePrefix?: Buffer;
  /**
   * The file is still being written, front to back, each byte once (a snapshot copy): its
   * final size, and when a range of it is written. Reads wait for their range.
   */
  readonly growing?: { readonly size: number; written(end: number): Promise<void>; finalMtimeMs(): number | undefined };
  /**
   * Plaintext that comes before the file's bytes (a continuous-backup base: its header, then
   * the database image file), so the file need not be copied to put a header in front of it.
   */
  readonly head?: Buffer;
}

/**
 * Plaintext read and sealed per step of a range: 2 chunks of 128 KiB. A range holds about
 * two batches (its read buffer and the sealed pieces waiting for the socket), times the parts
 * in flight. Measured on Node 24, 1 GiB to S3 with 2 CPU hogs beside it (issue #6): 1 MiB
 * batches peaked at 131-149 MB RSS, 256 KiB at 125-128 MB, 128 KiB no lower; same speed.
 */
const BATCH_BYTES = 1 << 18;

export async function openEncryptedFile(
  path: string,
  key: EncryptionKey,
  options: EncryptedFileOptions = {},
): Promise<EncryptedFileSource> {
  const kib = checkedChunkKiB(options.chunkSizeKiB);
  checkKey(key);
  if (options.noncePrefix && options.noncePrefix.length !== STREAM_NONCE_PREFIX_BYTES)
    throw new RangeError(`the nonce prefix must be ${STREAM_NONCE_PREFIX_BYTES} bytes`);
  const prefix = options.noncePrefix ? Buffer.from(options.noncePrefix) : randomBytes(STREAM_NONCE_PREFIX_BYTES);
  const fh = await openFile(path, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new LifeboatError('NOT_A_FILE', `${path} is not a file`);
    const growing = options.growing;
    const head = options.head ?? Buffer.alloc(0);
    return new Source(fh, path, key, prefix, kib * 1024, growing?.size ?? st.size, st.mtimeMs, growing, head);
  } catch (err) {
    await fh.close();
    throw err;
  }
}

class Source implements EncryptedFileSource {
  readonly size: number;
  readonly plainSize: number;
  readonly keyId: string;
  private readonly header: Buffer;
  private readonly chunks: number;
  /** Bytes of the file itself (plainSize is the head and the file). */
  private readonly fileSize: number;
  private closed = false;

  constructor(
    private readonly fh: FileHandle,
    private readonly path: string,
    private readonly key: EncryptionKey,
    private readonly prefix: Buffer,
    private readonly chunkBytes: number,
    fileSize: number,
    private readonly mtimeMs: number,
    private readonly growing: EncryptedFileOptions['growing'],
    private readonly head: Buffer,
  ) {
    this.keyId = key.id;
    this.fileSize = fileSize;
    this.plainSize = head.length + fileSize;
    this.header = encodeHeader(key.id, chunkBytes / 1024, prefix);
    this.chunks = Math.max(1, Math.ceil(this.plainSize / chunkBytes));
    this.size = encryptedStreamLength(this.plainSize, key.id, chunkBytes / 1024);
  }

  open(start: number, end: number): Readable {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > this.size) {
      throw new RangeError(`range [${start}, ${end}) is outside the ${this.size} bytes of the encrypted ${this.path}`);
    }
    if (this.closed) throw new LifeboatError('SOURCE_CLOSED', `the encrypted view of ${this.path} was already closed`);
    // One read buffer per range, reused batch after batch: only the sealed output leaves it
    // (cipher.update copies), so the plaintext need not become garbage for the GC to find.
    const cursor = {
      pos: start,
      end,
      nonce: Buffer.allocUnsafe(NONCE_BYTES),
      checked: false,
      buffer: undefined as Buffer | undefined,
    };
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
  private async batch(cursor: {
    pos: number;
    end: number;
    nonce: Buffer;
    checked: boolean;
    buffer: Buffer | undefined;
  }): Promise<Buffer[]> {
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
    const plain = await this.read(cursor.buffer.subarray(0, length), plainStart);
    for (let i = 0; i < count && cursor.pos < end; i++) {
      const index = first + i;
      const piece = plain.subarray(i * this.chunkBytes, Math.min((i + 1) * this.chunkBytes, plain.length));
      const [body, tag] = seal(this.key.key, chunkNonce(this.prefix, index, index === this.chunks - 1, nonce), piece);
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

  /** Plaintext bytes [offset, offset + buf.length): the head's, then the file's. */
  private async read(buf: Buffer, offset: number): Promise<Buffer> {
    const length = buf.length;
    let done = 0;
    if (offset < this.head.length) done = this.head.copy(buf, 0, offset, Math.min(this.head.length, offset + length));
    // Byte i of buf is byte offset + i of the plaintext, so byte offset + i - head of the file.
    const at = offset - this.head.length;
    await this.growing?.written(at + length);
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, at + done);
      if (bytesRead === 0) throw this.changed('it became shorter');
      done += bytesRead;
    }
    await this.checkUnchanged();
    return buf;
  }

  private async checkUnchanged(): Promise<void> {
    // A file being written grows and its modification time moves, until its copy is done. Read
    // before the stat: a stat begun while the copy ran may finish after it, and must not be held
    // to the finished file's size and time.
    const finalMtimeMs = this.growing?.finalMtimeMs();
    const st = await this.fh.stat();
    if (this.growing && finalMtimeMs === undefined) {
      if (st.size > this.fileSize) throw this.changed(`it grew past its announced ${this.fileSize} bytes`);
      return;
    }
    if (st.size !== this.fileSize) throw this.changed(`its size went from ${this.fileSize} to ${st.size} bytes`);
    if (st.mtimeMs !== (finalMtimeMs ?? this.mtimeMs)) throw this.changed('it was modified');
  }

  private changed(how: string): LifeboatError {
    return new LifeboatError(
      'SOURCE_CHANGED',
      `${this.path} changed while it was being encrypted (${how}); nothing was stored from it`,
      {
        hint: 'only finished backups are pushed; another program wrote to the backups folder — run the backup again',
      },
    );
  }
}
