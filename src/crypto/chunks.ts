import { LifeboatError } from '../errors.js';
import { open } from './aead.js';
import { chunkNonce, decodeHeader, MAX_HEADER_LENGTH, NONCE_BYTES, TAG_BYTES } from './format.js';
import type { EncryptionKey } from './keys.js';
import { type KeyLookup, streamKey, TRUNCATED_HINT } from './stream.js';

/**
 * A complete cryptr stream of known size seen as chunks that open independently: chunk i's
 * nonce depends only on the prefix, i and whether it is the last, so a reader can fetch and
 * open ranges in parallel, in any order, and write each chunk's plaintext at i × chunk size.
 * The guarantees are the stream's: every chunk authenticates under its own position, and the
 * last one (known from the size) only with the last flag, so a cut, a reorder, a swap or a
 * flipped bit fails — a cut at a chunk boundary as TRUNCATED, like the stream reader.
 */

/** Bytes to fetch from the start of an object to read its header and nonce prefix. */
export const HEAD_BYTES = MAX_HEADER_LENGTH + NONCE_BYTES;

export interface ChunkLayout {
  readonly key: EncryptionKey;
  readonly prefix: Buffer;
  /** Plaintext bytes per chunk (all but the last). */
  readonly chunkBytes: number;
  /** Sealed bytes per chunk: plaintext + tag. */
  readonly segmentBytes: number;
  /** Where chunk 0 starts in the object. */
  readonly payloadOffset: number;
  readonly chunks: number;
  readonly plainSize: number;
}

/** The layout of a stream of `size` bytes whose first bytes are `head` (at least HEAD_BYTES, or the whole object). */
export function chunkLayout(head: Buffer, size: number, keys: KeyLookup): ChunkLayout {
  const parsed = decodeHeader(head);
  if (!parsed) {
    throw new LifeboatError('TRUNCATED', `the encrypted stream ends inside its header, after ${size} bytes`, {
      hint: TRUNCATED_HINT,
    });
  }
  const key = streamKey(keys, parsed.header);
  const chunkBytes = parsed.header.chunkKiB * 1024;
  const segmentBytes = chunkBytes + TAG_BYTES;
  const body = size - parsed.payloadOffset;
  if (body <= 0) {
    throw new LifeboatError('TRUNCATED', 'the encrypted stream ends right after its header: no chunk follows', {
      hint: TRUNCATED_HINT,
    });
  }
  const chunks = Math.ceil(body / segmentBytes);
  const last = body - (chunks - 1) * segmentBytes;
  if (last < TAG_BYTES) {
    throw new LifeboatError(
      'TRUNCATED',
      `the encrypted stream ends ${last} bytes into chunk ${chunks - 1}, too short to hold even its tag`,
      { hint: TRUNCATED_HINT },
    );
  }
  return {
    key,
    prefix: parsed.nonce,
    chunkBytes,
    segmentBytes,
    payloadOffset: parsed.payloadOffset,
    chunks,
    plainSize: body - chunks * TAG_BYTES,
  };
}

/** Where chunk `index` is in the object: [start, end). */
export function chunkRange(layout: ChunkLayout, index: number): { start: number; end: number } {
  const start = layout.payloadOffset + index * layout.segmentBytes;
  const end =
    index === layout.chunks - 1
      ? layout.payloadOffset + layout.plainSize + layout.chunks * TAG_BYTES
      : start + layout.segmentBytes;
  return { start, end };
}

/** Opens chunk `index` from its sealed bytes; AUTH_FAILED or TRUNCATED naming it otherwise. */
export function openChunk(
  layout: ChunkLayout,
  index: number,
  sealed: Buffer,
  nonce = Buffer.allocUnsafe(NONCE_BYTES),
): Buffer {
  const last = index === layout.chunks - 1;
  const plain = open(layout.key.key, chunkNonce(layout.prefix, index, last, nonce), sealed);
  if (plain) return plain;
  const { start, end } = chunkRange(layout, index);
  if (
    last &&
    sealed.length === layout.segmentBytes &&
    open(layout.key.key, chunkNonce(layout.prefix, index, false, nonce), sealed)
  ) {
    throw new LifeboatError(
      'TRUNCATED',
      `the encrypted stream ends after chunk ${index}, which is not the final chunk: the rest is missing`,
      { hint: TRUNCATED_HINT },
    );
  }
  throw new LifeboatError(
    'AUTH_FAILED',
    `authentication failed at chunk ${index}${last ? ' (the final piece)' : ''}, bytes ${start}..${end - 1}: ` +
      `the chunk is corrupt, was tampered with or moved, or key "${layout.key.id}" is not the one that encrypted it`,
    {
      hint:
        'fetch the object again; if it was stored damaged, use another backup; check that ENC_KEYS holds ' +
        `the original key for id "${layout.key.id}"`,
    },
  );
}
