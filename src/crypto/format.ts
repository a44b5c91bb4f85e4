/**
 * The cryptr encrypted-value format (version 1), hand-written because no JavaScript
 * library implements it. Checked against sebadob/cryptr 0.5.1 (commit 4e350a3b,
 * src/value.rs, src/encryption.rs, src/stream/reader/file_reader.rs) and RustCrypto
 * `aead` 0.5 `stream::StreamBE32` (chacha20poly1305 0.10):
 *
 *   u8 version = 1 | u8 algorithm = 1 (ChaCha20-Poly1305) | u16 BE header length = 6 + len(id)
 *   | u16 BE chunk size in KiB (0 = single value; cryptr's default for streams is 128, max 1024)
 *   | key id (ASCII) | nonce: 7-byte prefix for a stream, 12 bytes for a single value | payload
 *
 * Stream payload: plaintext cut into chunk-size pieces, chunk i sealed under
 * `prefix(7) || u32 BE i || flag` (flag 0x01 only on the final chunk), each `ciphertext || tag(16)`.
 * cryptr's file reader makes the final chunk a full one when the size is an exact multiple
 * (no empty trailer); an empty input is one empty final chunk (cryptr itself divides by
 * zero on an empty file, so Lifeboat never needs to read one from it). Spec and source agree.
 */
import { LifeboatError } from '../errors.js';

export const VERSION = 1;
export const ALG_CHACHA20_POLY1305 = 1;
export const TAG_BYTES = 16;
export const STREAM_NONCE_PREFIX_BYTES = 7;
export const VALUE_NONCE_BYTES = 12;
export const DEFAULT_CHUNK_KIB = 128;
export const MAX_CHUNK_KIB = 1024;
/** Fixed part of the header before the key id. */
export const HEADER_FIXED_BYTES = 6;
const KEY_ID = /^[a-zA-Z0-9_-]{2,20}$/;

export interface Header {
  readonly version: number;
  readonly algorithm: number;
  /** 0 for a single value, else the plaintext chunk size in KiB. */
  readonly chunkKiB: number;
  readonly keyId: string;
}

function badHeader(message: string): LifeboatError {
  return new LifeboatError('BAD_HEADER', `not a valid encrypted backup: ${message}`, {
    hint: 'the file or object is not in the cryptr format Hiqlite/Lifeboat write, or its first bytes are damaged',
  });
}

export function encodeHeader(keyId: string, chunkKiB: number, nonce: Buffer): Buffer {
  if (!KEY_ID.test(keyId)) throw new RangeError(`key id "${keyId}" is not 2-20 characters of a-z A-Z 0-9 _ -`);
  if (!Number.isInteger(chunkKiB) || chunkKiB < 0 || chunkKiB > MAX_CHUNK_KIB) throw new RangeError(`chunk size must be 0..${MAX_CHUNK_KIB} KiB`);
  const expectedNonce = chunkKiB === 0 ? VALUE_NONCE_BYTES : STREAM_NONCE_PREFIX_BYTES;
  if (nonce.length !== expectedNonce) throw new RangeError(`nonce must be ${expectedNonce} bytes`);
  const id = Buffer.from(keyId, 'ascii');
  const header = Buffer.alloc(HEADER_FIXED_BYTES + id.length + nonce.length);
  header.writeUInt8(VERSION, 0);
  header.writeUInt8(ALG_CHACHA20_POLY1305, 1);
  header.writeUInt16BE(HEADER_FIXED_BYTES + id.length, 2);
  header.writeUInt16BE(chunkKiB, 4);
  id.copy(header, HEADER_FIXED_BYTES);
  nonce.copy(header, HEADER_FIXED_BYTES + id.length);
  return header;
}

/**
 * Parses the header and nonce at the start of `buf`. Returns undefined when more bytes are
 * needed, or the header, nonce and the offset where the payload starts.
 */
export function decodeHeader(buf: Buffer): { header: Header; nonce: Buffer; payloadOffset: number } | undefined {
  if (buf.length < HEADER_FIXED_BYTES) return undefined;
  const version = buf.readUInt8(0);
  if (version !== VERSION) throw badHeader(`unknown format version ${version} (expected ${VERSION})`);
  const algorithm = buf.readUInt8(1);
  if (algorithm !== ALG_CHACHA20_POLY1305) throw badHeader(`unknown algorithm ${algorithm} (expected 1 = ChaCha20-Poly1305)`);
  const length = buf.readUInt16BE(2);
  if (length < HEADER_FIXED_BYTES + 2 || length > HEADER_FIXED_BYTES + 20) throw badHeader(`header length ${length} is outside 8..26`);
  const chunkKiB = buf.readUInt16BE(4);
  if (chunkKiB > MAX_CHUNK_KIB) throw badHeader(`chunk size ${chunkKiB} KiB is above the maximum ${MAX_CHUNK_KIB}`);
  const nonceBytes = chunkKiB === 0 ? VALUE_NONCE_BYTES : STREAM_NONCE_PREFIX_BYTES;
  if (buf.length < length + nonceBytes) return undefined;
  const keyId = buf.toString('latin1', HEADER_FIXED_BYTES, length);
  if (!KEY_ID.test(keyId)) throw badHeader('the key id in the header has characters outside a-z A-Z 0-9 _ -');
  const nonce = Buffer.from(buf.subarray(length, length + nonceBytes));
  return { header: { version, algorithm, chunkKiB, keyId }, nonce, payloadOffset: length + nonceBytes };
}

/** The 12-byte nonce of stream chunk `index`: prefix || u32 BE counter || last flag. */
export function chunkNonce(prefix: Buffer, index: number, last: boolean): Buffer {
  if (index > 0xffffffff) throw new RangeError('a stream has at most 2^32 chunks');
  const nonce = Buffer.alloc(12);
  prefix.copy(nonce, 0, 0, STREAM_NONCE_PREFIX_BYTES);
  nonce.writeUInt32BE(index, STREAM_NONCE_PREFIX_BYTES);
  nonce[11] = last ? 1 : 0;
  return nonce;
}
