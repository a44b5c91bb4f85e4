import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { LifeboatError } from '../errors.js';
import { open, seal } from './aead.js';
import { Chunker } from './chunker.js';
import {
  chunkNonce,
  DEFAULT_CHUNK_KIB,
  decodeHeader,
  encodeHeader,
  type Header,
  isValidChunkKiB,
  KEY_BYTES,
  MAX_CHUNK_KIB,
  MAX_CHUNKS,
  MAX_HEADER_LENGTH,
  MIN_CHUNK_KIB,
  NONCE_BYTES,
  STREAM_NONCE_PREFIX_BYTES,
  TAG_BYTES,
} from './format.js';
import type { EncryptionKey, KeySet } from './keys.js';

/**
 * Streaming encryption and decryption in cryptr's stream format (see format.ts for the
 * layout and what was checked against cryptr). Both sides hold one chunk of staging memory
 * plus what the stream machinery buffers, whatever the size of the data.
 *
 * Performance: the cipher itself (node:crypto → OpenSSL) is the cost; around it the code
 * avoids copies: chunks are cut by a Chunker (chunker.ts), which copies only what straddles a
 * chunk boundary. Ciphertext and tag are pushed as two buffers instead of being concatenated.
 */

export interface EncryptStreamOptions {
  /** Plaintext chunk size in KiB, 1..1024 (default 128, cryptr's default). */
  readonly chunkSizeKiB?: number;
  /** Fixed 7-byte nonce prefix, for known-answer tests only; random otherwise. */
  readonly noncePrefix?: Buffer;
}

/** A key set, or any lookup from key id to key (e.g. a key fetched on demand). */
export type KeyLookup = KeySet | ((id: string) => EncryptionKey | undefined);

export const TRUNCATED_HINT =
  'the file or object is incomplete (an interrupted upload, download or copy): fetch it again';

/** The key is 32 bytes, or BAD_KEY naming it and how to make one. */
export function checkKey(key: EncryptionKey): void {
  if (key.key.length !== KEY_BYTES) {
    throw new LifeboatError(
      'BAD_KEY',
      `key "${key.id}" is ${key.key.length} bytes; ChaCha20-Poly1305 needs exactly ${KEY_BYTES}`,
      {
        hint: 'keys in ENC_KEYS are base64 of 32 random bytes; create one with `lifeboat keys generate`',
      },
    );
  }
}

/** The chunk size to write with (default 128 KiB), or BAD_CHUNK_SIZE. */
export function checkedChunkKiB(kib: number = DEFAULT_CHUNK_KIB): number {
  if (!isValidChunkKiB(kib)) {
    throw new LifeboatError(
      'BAD_CHUNK_SIZE',
      `chunk size ${String(kib)} KiB is not a whole number from ${MIN_CHUNK_KIB} to ${MAX_CHUNK_KIB}`,
      {
        hint: `cryptr's default is ${DEFAULT_CHUNK_KIB} KiB; keep it unless another reader needs something else`,
      },
    );
  }
  return kib;
}

export class EncryptStream extends Transform {
  readonly keyId: string;
  readonly chunkKiB: number;
  private readonly key: Buffer;
  private readonly prefix: Buffer;
  private readonly nonce = Buffer.allocUnsafe(NONCE_BYTES);
  private readonly chunks: Chunker;
  private index = 0;
  private plainBytes = 0;

  constructor(key: EncryptionKey, options: EncryptStreamOptions = {}) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    const kib = checkedChunkKiB(options.chunkSizeKiB);
    checkKey(key);
    if (options.noncePrefix && options.noncePrefix.length !== STREAM_NONCE_PREFIX_BYTES)
      throw new RangeError(`the nonce prefix must be ${STREAM_NONCE_PREFIX_BYTES} bytes`);
    this.keyId = key.id;
    this.chunkKiB = kib;
    this.key = key.key;
    this.chunks = new Chunker(kib * 1024);
    this.prefix = options.noncePrefix ? Buffer.from(options.noncePrefix) : randomBytes(STREAM_NONCE_PREFIX_BYTES);
    // Header first: a reader needs it before anything else, and it names the key.
    this.push(encodeHeader(key.id, kib, this.prefix));
  }

  /** Plaintext bytes taken in so far. */
  get bytesIn(): number {
    return this.plainBytes;
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.plainBytes += data.length;
      this.chunks.take(data, (chunk) => this.sealChunk(chunk, false));
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      // Whatever is staged is the final chunk: a full one for an exact multiple, an empty one
      // (tag only) for an empty input.
      this.sealChunk(this.chunks.staged, true);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  private sealChunk(plain: Buffer, last: boolean): void {
    if (this.index >= MAX_CHUNKS - 1 && !last) {
      throw new LifeboatError('STREAM_TOO_LONG', `a stream holds at most 2^32 chunks of ${this.chunkKiB} KiB`, {
        hint: 'use a larger chunk size',
      });
    }
    const [body, tag] = seal(this.key, chunkNonce(this.prefix, this.index, last, this.nonce), plain);
    if (body.length > 0) this.push(body);
    this.push(tag);
    this.index++;
  }
}

function lookup(keys: KeyLookup, id: string): EncryptionKey | undefined {
  return typeof keys === 'function' ? keys(id) : keys.get(id);
}

/**
 * The key a stream's header names, checked; KEY_UNKNOWN names the id and the configured ones,
 * BAD_HEADER when the header is a single value's, not a stream's.
 */
export function streamKey(keys: KeyLookup, header: Header): EncryptionKey {
  if (header.chunkKiB === 0) {
    throw new LifeboatError(
      'BAD_HEADER',
      `this is a single encrypted value (chunk size 0, key id "${header.keyId}"), not an encrypted stream`,
      { hint: 'values are decrypted with decryptValue, not as a backup stream' },
    );
  }
  const key = lookup(keys, header.keyId);
  if (!key) {
    throw new LifeboatError(
      'KEY_UNKNOWN',
      `encrypted with key id "${header.keyId}", which is not in ` +
        `the key set (configured ids: ${configuredIds(keys)})`,
      {
        hint:
          `add the key "${header.keyId}" to ENC_KEYS (after a rotation, ` +
          `keep retired keys in ENC_KEYS so older backups stay readable)`,
      },
    );
  }
  checkKey(key);
  return key;
}

function configuredIds(keys: KeyLookup): string {
  if (typeof keys === 'function') return 'not listed: keys are looked up on demand';
  return keys.ids.length > 0 ? keys.ids.join(', ') : 'none';
}

/**
 * Streaming decryption. The key is chosen by the id in the header, so any key in the set
 * works (rotation). A chunk's plaintext is pushed only after its tag verified; the stream
 * ends normally only if the final chunk (last flag set) verified and nothing follows it.
 * Earlier chunks' plaintext has been passed on by then, so a consumer must treat the output
 * as unfinished until the stream ends without error (file.ts renames only then).
 */
export class DecryptStream extends Transform {
  private readonly keys: KeyLookup;
  private key: EncryptionKey | undefined;
  private parsed: Header | undefined;
  private prefix: Buffer | undefined;
  private readonly nonce = Buffer.allocUnsafe(NONCE_BYTES);
  /** Header bytes while the header is incomplete: a few dozen bytes at most, never chunk data. */
  private head: Buffer | undefined;
  /** Sealed chunks (ciphertext + tag), once the header is read. */
  private chunks: Chunker | undefined;
  private index = 0;
  /** Stream offset of the first byte of the current segment, for messages. */
  private position = 0;
  private finished = false;

  constructor(keys: KeyLookup) {
    super({ readableHighWaterMark: 1 << 20, writableHighWaterMark: 1 << 20 });
    this.keys = keys;
  }

  /** The id named in the header, once it has been read. */
  get keyId(): string | undefined {
    return this.parsed?.keyId;
  }

  /** The parsed header, once it has been read. */
  get header(): Header | undefined {
    return this.parsed;
  }

  /** True once the final chunk verified and the input ended with it. */
  get complete(): boolean {
    return this.finished;
  }

  override _transform(input: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      let data = input;
      if (!this.chunks) {
        const rest = this.readHeader(data);
        if (!rest) {
          done();
          return;
        }
        data = rest;
      }
      this.chunks!.take(data, (sealed) => this.openSegment(sealed));
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      if (!this.chunks) {
        const got = this.head?.length ?? 0;
        throw new LifeboatError(
          'TRUNCATED',
          got === 0
            ? 'the encrypted stream is empty (0 bytes)'
            : `the encrypted stream ended inside its header, after ${got} bytes`,
          { hint: TRUNCATED_HINT },
        );
      }
      const last = this.chunks.staged;
      if (last.length === 0) {
        throw new LifeboatError(
          'TRUNCATED',
          this.index === 0
            ? 'the encrypted stream ends right after its header: no chunk follows'
            : `the encrypted stream ends after chunk ${this.index - 1}, ` +
                `which is not the final chunk: the rest is missing`,
          { hint: TRUNCATED_HINT },
        );
      }
      if (last.length < TAG_BYTES) {
        throw new LifeboatError(
          'TRUNCATED',
          `the encrypted stream ends ${last.length} bytes into chunk ${this.index}, too short to hold even its tag`,
          { hint: TRUNCATED_HINT },
        );
      }
      this.openFinal(last);
      this.finished = true;
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  /** Consumes header bytes; returns the bytes after the header once it is complete. */
  private readHeader(data: Buffer): Buffer | undefined {
    // Only the few header bytes are ever concatenated, never chunk data.
    const buf = this.head ? Buffer.concat([this.head, data]) : data;
    const parsed = decodeHeader(buf);
    if (!parsed) {
      this.head = Buffer.from(buf.subarray(0, MAX_HEADER_LENGTH + NONCE_BYTES));
      return undefined;
    }
    const { header, nonce, payloadOffset } = parsed;
    const key = streamKey(this.keys, header);
    this.parsed = header;
    this.key = key;
    this.prefix = nonce;
    this.chunks = new Chunker(header.chunkKiB * 1024 + TAG_BYTES);
    this.position = payloadOffset;
    this.head = undefined;
    return buf.subarray(payloadOffset);
  }

  private tryOpen(sealed: Buffer, index: number, last: boolean): Buffer | undefined {
    if (index >= MAX_CHUNKS || (!last && index === MAX_CHUNKS - 1)) return undefined;
    return open(this.key!.key, chunkNonce(this.prefix!, index, last, this.nonce), sealed);
  }

  /** A non-final segment: more bytes follow it. */
  private openSegment(sealed: Buffer): void {
    const plain = this.tryOpen(sealed, this.index, false);
    if (!plain) {
      // More bytes follow, yet this segment verifies as the *final* chunk: something was
      // appended to a complete stream.
      if (this.tryOpen(sealed, this.index, true)) {
        throw new LifeboatError(
          'TRAILING_DATA',
          `unexpected bytes after the final chunk ${this.index}, ` +
            `from byte ${this.position + sealed.length} on; the data up to there is complete and authentic`,
          {
            hint:
              'the file or object was appended to or concatenated ' +
              'with something; cut it at that byte, or fetch it again',
          },
        );
      }
      throw this.authFailed(sealed.length, false);
    }
    this.accept(plain, sealed.length);
  }

  /** The piece that ends the input: it must verify as the final chunk. */
  private openFinal(sealed: Buffer): void {
    const plain = this.tryOpen(sealed, this.index, true);
    if (plain) {
      this.accept(plain, sealed.length);
      return;
    }
    // Cut off exactly at a chunk boundary: the piece is a good chunk, but not the final one.
    if (sealed.length === this.chunks!.size && this.tryOpen(sealed, this.index, false)) {
      throw new LifeboatError(
        'TRUNCATED',
        `the encrypted stream ends after chunk ${this.index}, which is not the final chunk: the rest is missing`,
        { hint: TRUNCATED_HINT },
      );
    }
    // A short final chunk with a few bytes appended: the boundary is unknown, so try the
    // likely small tails (each try costs one open of this piece, on the failure path only).
    const maxExtra = Math.min(sealed.length - TAG_BYTES, 256);
    for (let extra = 1; extra <= maxExtra; extra++) {
      if (this.tryOpen(sealed.subarray(0, sealed.length - extra), this.index, true)) {
        throw new LifeboatError(
          'TRAILING_DATA',
          `${extra} unexpected byte(s) after the final chunk ${this.index}, ` +
            `from byte ${this.position + sealed.length - extra} on; the data up to there is complete and authentic`,
          {
            hint:
              'the file or object was appended to or concatenated ' +
              'with something; cut it at that byte, or fetch it again',
          },
        );
      }
    }
    throw this.authFailed(sealed.length, true);
  }

  private accept(plain: Buffer, sealedBytes: number): void {
    if (plain.length > 0) this.push(plain);
    this.index++;
    this.position += sealedBytes;
  }

  private authFailed(sealedBytes: number, final: boolean): LifeboatError {
    const id = this.key!.id;
    const where =
      `authentication failed at chunk ${this.index}${final ? ' (the final piece)' : ''}, ` +
      `bytes ${this.position}..${this.position + sealedBytes - 1}`;
    // Earlier chunks verified with this key, so the key is right and this chunk is damaged.
    const why =
      this.index > 0
        ? `chunks 0..${this.index - 1} verified with key "${id}", so the key is right: this chunk ` +
          `is corrupt or was tampered with${final ? ', or the stream was cut off inside it' : ''}`
        : `the data is corrupt or was encrypted with a different key than the one configured ` +
          `as "${id}"${final ? ', or the stream was cut off inside its only chunk' : ''}`;
    return new LifeboatError('AUTH_FAILED', `${where}: ${why}`, {
      hint:
        this.index > 0
          ? 'fetch the file or object again; if it was stored damaged, use another backup'
          : `check that ENC_KEYS holds the original key for id "${id}" (same id, ` +
            `different key bytes fails here), and that the file or object is intact`,
    });
  }
}

export function createEncryptStream(key: EncryptionKey, options: EncryptStreamOptions = {}): EncryptStream {
  return new EncryptStream(key, options);
}

export function createDecryptStream(keys: KeyLookup): DecryptStream {
  return new DecryptStream(keys);
}
