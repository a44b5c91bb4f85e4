import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { LifeboatError } from '../errors.js';
import { open, seal } from './aead.js';
import { chunkNonce, decodeHeader, DEFAULT_CHUNK_KIB, encodeHeader, MAX_CHUNK_KIB, STREAM_NONCE_PREFIX_BYTES, TAG_BYTES } from './format.js';
import type { EncryptionKey, KeySet } from './keys.js';

/**
 * Streaming encryption in cryptr's format (see format.ts). Memory is bounded by one chunk
 * plus what the stream machinery buffers, whatever the size of the input.
 */
export class EncryptStream extends Transform {
  private readonly key: Buffer;
  private readonly prefix: Buffer;
  private readonly chunk: Buffer;
  private fill = 0;
  private index = 0;

  constructor(key: EncryptionKey, options: { chunkSizeKiB?: number; noncePrefix?: Buffer } = {}) {
    super({ readableHighWaterMark: 1 << 20 });
    const kib = options.chunkSizeKiB ?? DEFAULT_CHUNK_KIB;
    if (!Number.isInteger(kib) || kib < 1 || kib > MAX_CHUNK_KIB) throw new RangeError(`chunk size must be 1..${MAX_CHUNK_KIB} KiB, got ${kib}`);
    this.key = key.key;
    this.prefix = options.noncePrefix ?? randomBytes(STREAM_NONCE_PREFIX_BYTES);
    this.chunk = Buffer.allocUnsafe(kib * 1024);
    this.push(encodeHeader(key.id, kib, this.prefix));
  }

  override _transform(data: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let offset = 0;
    while (offset < data.length) {
      // A full chunk is sealed only once more data follows: only then is it known not to be the last.
      if (this.fill === this.chunk.length) this.sealChunk(false);
      const n = Math.min(this.chunk.length - this.fill, data.length - offset);
      data.copy(this.chunk, this.fill, offset, offset + n);
      this.fill += n;
      offset += n;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.sealChunk(true);
    done();
  }

  private sealChunk(last: boolean): void {
    const [body, tag] = seal(this.key, chunkNonce(this.prefix, this.index, last), this.chunk.subarray(0, this.fill));
    this.push(body);
    this.push(tag);
    this.index++;
    this.fill = 0;
  }
}

export type KeyLookup = KeySet | ((id: string) => EncryptionKey | undefined);

function lookup(keys: KeyLookup, id: string): EncryptionKey | undefined {
  return typeof keys === 'function' ? keys(id) : keys.get(id);
}

function knownIds(keys: KeyLookup): string {
  return typeof keys === 'function' ? 'unknown' : keys.ids.join(', ');
}

/**
 * Streaming decryption: the key is chosen by the id in the header (so every key of the set
 * works: rotation). Each chunk is authenticated before its plaintext is pushed; the stream
 * fails (never ends normally) unless the final chunk authenticates and nothing follows it.
 */
export class DecryptStream extends Transform {
  private key: EncryptionKey | undefined;
  private prefix: Buffer | undefined;
  private header: Buffer = Buffer.alloc(0);
  private segment: Buffer | undefined;
  private fill = 0;
  private index = 0;
  /** Stream position of the current segment's first byte, for error messages. */
  private position = 0;

  constructor(private readonly keys: KeyLookup) {
    super({ readableHighWaterMark: 1 << 20 });
  }

  /** The id of the key the header named, once the header has been read. */
  get keyId(): string | undefined {
    return this.key?.id;
  }

  override _transform(data: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      let offset = 0;
      if (!this.segment) {
        // Copy only while the header is incomplete (never the first, possibly large, chunk).
        const head = this.header.length ? Buffer.concat([this.header, data]) : data;
        const parsed = decodeHeader(head);
        if (!parsed) {
          this.header = Buffer.from(head);
          return done();
        }
        if (parsed.header.chunkKiB === 0) {
          throw new LifeboatError('BAD_HEADER', 'this is a single encrypted value, not a stream (chunk size 0)', { hint: 'decrypt it as a value, not as a backup stream' });
        }
        const key = lookup(this.keys, parsed.header.keyId);
        if (!key) {
          throw new LifeboatError('KEY_UNKNOWN', `encrypted with key id "${parsed.header.keyId}", which is not in the key set (configured ids: ${knownIds(this.keys)})`, {
            hint: `add the key "${parsed.header.keyId}" to ENC_KEYS (keep retired keys there after a rotation)`,
          });
        }
        this.key = key;
        this.prefix = parsed.nonce;
        this.segment = Buffer.allocUnsafe(parsed.header.chunkKiB * 1024 + TAG_BYTES);
        this.position = parsed.payloadOffset;
        data = head.subarray(parsed.payloadOffset);
        this.header = Buffer.alloc(0);
      }
      const segment = this.segment;
      while (offset < data.length) {
        // A full segment is opened only once more bytes follow; at the end it is the final one.
        if (this.fill === segment.length) this.openSegment(false);
        const n = Math.min(segment.length - this.fill, data.length - offset);
        data.copy(segment, this.fill, offset, offset + n);
        this.fill += n;
        offset += n;
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (!this.segment) {
        throw new LifeboatError('TRUNCATED', `the stream ended inside its header (${this.header.length} bytes)`, { hint: 'the file or object is incomplete: download or copy it again' });
      }
      if (this.fill === 0) {
        throw new LifeboatError('TRUNCATED', `the stream ended after chunk ${this.index - 1} without its final chunk`, { hint: 'the file or object is incomplete: download or copy it again' });
      }
      this.openSegment(true);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  private openSegment(last: boolean): void {
    const key = this.key!.key;
    const sealed = this.segment!.subarray(0, this.fill);
    const plain = open(key, chunkNonce(this.prefix!, this.index, last), sealed);
    if (!plain) {
      // Name what went wrong: a non-final chunk at the very end = truncation; a final chunk
      // followed by more bytes = trailing data; otherwise the key or the data is wrong.
      if (last && sealed.length === this.segment!.length && open(key, chunkNonce(this.prefix!, this.index, false), sealed)) {
        throw new LifeboatError('TRUNCATED', `the stream ended after chunk ${this.index} without its final chunk`, { hint: 'the file or object is incomplete: download or copy it again' });
      }
      const extra = last ? this.trailingBytes(key, sealed) : open(key, chunkNonce(this.prefix!, this.index, true), sealed) ? -1 : 0;
      if (extra !== 0) {
        const where = extra > 0 ? `${extra} unexpected byte(s) after the final chunk ${this.index}` : `unexpected bytes after the final chunk ${this.index} (at byte ${this.position + sealed.length})`;
        throw new LifeboatError('TRAILING_DATA', where, {
          hint: 'the file or object was appended to or concatenated; the backup itself may still be fine without the extra bytes',
        });
      }
      throw new LifeboatError('AUTH_FAILED', `authentication failed at chunk ${this.index} (byte ${this.position}): the data is corrupt or was encrypted with a different key than "${this.key!.id}"`, {
        hint: `check that ENC_KEYS holds the original key for id "${this.key!.id}", and that the file or object is intact`,
      });
    }
    this.push(plain);
    this.index++;
    this.position += sealed.length;
    this.fill = 0;
  }

  /**
   * A short final piece that fails may be a good final chunk with a few bytes appended. The
   * boundary is unknown, so try dropping up to 64 bytes (cheap; a longer tail reads as corrupt).
   */
  private trailingBytes(key: Buffer, sealed: Buffer): number {
    for (let extra = 1; extra <= 64 && sealed.length - extra >= TAG_BYTES; extra++) {
      if (open(key, chunkNonce(this.prefix!, this.index, true), sealed.subarray(0, sealed.length - extra))) return extra;
    }
    return 0;
  }
}

export function createEncryptStream(key: EncryptionKey, options: { chunkSizeKiB?: number } = {}): EncryptStream {
  return new EncryptStream(key, options);
}

export function createDecryptStream(keys: KeyLookup): DecryptStream {
  return new DecryptStream(keys);
}
