/**
 * The cryptr encrypted-value format, version 1: pure framing (no I/O, no cipher calls).
 *
 * No JavaScript library implements this format, so it is written here from the source.
 * Checked against:
 *   - sebadob/cryptr 0.5.1, commit 4e350a3b17c7f59973a9c78499183e8aea376828 (the stored
 *     snapshot): src/value.rs, src/encryption.rs, src/keys.rs, src/kdf.rs,
 *     src/stream/reader/{file,memory,s3}_reader.rs, src/stream/writer/file_writer.rs;
 *   - cryptr 0.10.0 as published on docs.rs (the version Hiqlite uses): src/encryption.rs
 *     (same constants as 0.5.1) and the reader list (0.10 adds a ChannelReader/Writer);
 *   - sebadob/hiqlite c8294c11 (hiqlite/src/s3.rs): backups are pushed with
 *     `EncValue::encrypt_stream(FileReader → S3Writer)` (static keys, default chunk size)
 *     and pulled with `decrypt_stream(S3Reader → FileWriter | ChannelWriter)`;
 *   - RustCrypto `aead` 0.5.2 (tag aead-v0.5.2, commit 35d94f05), src/stream.rs, as used by
 *     chacha20poly1305 0.10 (`EncryptorBE32`/`DecryptorBE32`).
 *
 * Confirmed (agrees with spec/encryption.md):
 *   - Header: u8 version = 1 | u8 algorithm = 1 (ChaCha20-Poly1305) | u16 BE length
 *     = 6 + len(key id bytes) | u16 BE chunk size in KiB | key id bytes. `BytesMut::put_u16`
 *     is big-endian. The length counts the header without the nonce.
 *   - Stream: header, then a 7-byte random nonce prefix (`NONCE_SIZE_CHACHA_STREAM`), then
 *     chunks. Chunk i is sealed under `prefix(7) || u32 BE i || flag` (StreamBE32: the
 *     counter starts at 0 and `aead_nonce` writes `position.to_be_bytes()` then
 *     `last_block as u8`), empty AAD, output `ciphertext || 16-byte tag`.
 *   - Chunk size: `ChunkSizeKb` accepts 0..=1024, default 128; 0 marks a single value.
 *     Every chunk but the last carries exactly `chunk*1024` plaintext bytes.
 *   - Single value: header with chunk size 0, then a 12-byte random nonce, then
 *     `ciphertext || tag` of the whole value (`encrypt_chacha_v1`).
 *   - An input that is an exact multiple of the chunk size ends with a *full* final chunk
 *     (FileReader counts `ceil(size / chunk)` chunks and flags the last one); there is no
 *     empty trailer chunk.
 *
 * Found in cryptr beyond or different from the spec (and what Lifeboat does about it):
 *   - cryptr cannot stream an empty input: FileReader and MemoryReader shrink the chunk to
 *     the input size and then divide by it (a panic at 0 bytes); S3Reader unwraps a missing
 *     first piece. Lifeboat writes an empty input as one empty final chunk (16 bytes of tag),
 *     as the spec says, and reads that form; cryptr never produces it.
 *   - cryptr's parser does not validate the key id (lossy UTF-8) and computes `length - 6`
 *     without a check. Lifeboat rejects a length outside 8..26 and ids outside
 *     `[a-zA-Z0-9_-]{2,20}` (cryptr's own `EncKeys` id rule) as BAD_HEADER.
 *   - Password-derived keys (cryptr's argon2id mode) put `password$m$t$p` in the key id
 *     field. Hiqlite never uses it; Lifeboat reports it as BAD_HEADER naming the mode.
 *   - cryptr's file decrypt reader reads only the first 48 bytes for the header; with ids of
 *     at most 20 characters the header plus nonce is at most 33 bytes, so this never bites.
 *   - StreamBE32 refuses a non-final chunk at counter u32::MAX (the final chunk may use it):
 *     a stream holds at most 2^32 chunks. Lifeboat enforces the same limit.
 *   - cryptr 0.5.1's S3Reader *encryption* path splits at most one chunk per network piece
 *     (`if buf.len() > chunk_size`), so it can emit an oversized final chunk; Hiqlite encrypts
 *     from a FileReader, which is not affected. Lifeboat only ever writes exact chunks.
 */
import { LifeboatError } from '../errors.js';

export const FORMAT_VERSION = 1;
export const ALG_CHACHA20_POLY1305 = 1;
export const CIPHER_NAME = 'chacha20-poly1305';
export const KEY_BYTES = 32;
export const TAG_BYTES = 16;
export const NONCE_BYTES = 12;
export const STREAM_NONCE_PREFIX_BYTES = 7;
export const VALUE_NONCE_BYTES = NONCE_BYTES;
export const DEFAULT_CHUNK_KIB = 128;
export const MIN_CHUNK_KIB = 1;
export const MAX_CHUNK_KIB = 1024;
/** version + algorithm + length + chunk size, before the key id. */
export const HEADER_FIXED_BYTES = 6;
const MIN_KEY_ID_BYTES = 2;
const MAX_KEY_ID_BYTES = 20;
export const MIN_HEADER_LENGTH = HEADER_FIXED_BYTES + MIN_KEY_ID_BYTES;
export const MAX_HEADER_LENGTH = HEADER_FIXED_BYTES + MAX_KEY_ID_BYTES;
/** The most chunks one stream can hold (StreamBE32's u32 counter). */
export const MAX_CHUNKS = 2 ** 32;
/** Same rule as cryptr's `EncKeys` ids and Lifeboat's key parser. */
const KEY_ID = /^[a-zA-Z0-9_-]{2,20}$/;

export interface Header {
  readonly version: number;
  readonly algorithm: number;
  /** Header length as stored: 6 + key id bytes (the nonce follows it). */
  readonly length: number;
  /** 0 for a single value, else the plaintext chunk size in KiB. */
  readonly chunkKiB: number;
  readonly keyId: string;
}

export interface ParsedHeader {
  readonly header: Header;
  /** 7-byte prefix for a stream, 12-byte nonce for a single value (a copy). */
  readonly nonce: Buffer;
  /** Where the chunks (or the value's ciphertext) start. */
  readonly payloadOffset: number;
}

const BAD_HEADER_HINT =
  'the file or object is not in the cryptr format that Hiqlite and Lifeboat write, or its first bytes are damaged';

function badHeader(problem: string, hint = BAD_HEADER_HINT): LifeboatError {
  return new LifeboatError('BAD_HEADER', `not a valid encrypted stream or value: ${problem}`, { hint });
}

/** Shows header bytes that should have been a key id without letting control bytes into a terminal. */
function printable(bytes: Buffer): string {
  return JSON.stringify(bytes.toString('latin1').replace(/[^\x20-\x7e]/g, '?'));
}

export function isValidKeyId(id: string): boolean {
  return KEY_ID.test(id);
}

export function isValidChunkKiB(kib: number): boolean {
  return Number.isInteger(kib) && kib >= MIN_CHUNK_KIB && kib <= MAX_CHUNK_KIB;
}

/** Header plus nonce (prefix). `chunkKiB` 0 writes a single-value header with a 12-byte nonce. */
export function encodeHeader(keyId: string, chunkKiB: number, nonce: Buffer): Buffer {
  if (!isValidKeyId(keyId)) {
    throw new LifeboatError(
      'BAD_KEY_ID',
      `key id ${JSON.stringify(keyId.slice(0, 40))} cannot be written ` +
        `into a header: it must be 2-20 characters of a-z, A-Z, 0-9, _ or -`,
    );
  }
  if (chunkKiB !== 0 && !isValidChunkKiB(chunkKiB)) {
    throw new LifeboatError(
      'BAD_CHUNK_SIZE',
      `chunk size ${chunkKiB} KiB is outside ${MIN_CHUNK_KIB}..${MAX_CHUNK_KIB}`,
    );
  }
  const nonceBytes = chunkKiB === 0 ? VALUE_NONCE_BYTES : STREAM_NONCE_PREFIX_BYTES;
  if (nonce.length !== nonceBytes) throw new RangeError(`the nonce must be ${nonceBytes} bytes, got ${nonce.length}`);
  const length = HEADER_FIXED_BYTES + keyId.length; // ASCII: one byte per character
  const out = Buffer.allocUnsafe(length + nonceBytes);
  out[0] = FORMAT_VERSION;
  out[1] = ALG_CHACHA20_POLY1305;
  out.writeUInt16BE(length, 2);
  out.writeUInt16BE(chunkKiB, 4);
  out.write(keyId, HEADER_FIXED_BYTES, 'latin1');
  nonce.copy(out, length);
  return out;
}

/**
 * Parses the header and nonce at the start of `buf`. Returns undefined while more bytes are
 * needed; throws BAD_HEADER (saying which field is wrong) as soon as the bytes seen cannot
 * be a valid header, so garbage fails on its first bytes.
 */
export function decodeHeader(buf: Buffer): ParsedHeader | undefined {
  if (buf.length >= 1 && buf[0] !== FORMAT_VERSION) {
    throw badHeader(`unknown format version ${buf[0]} in byte 0 (only version ${FORMAT_VERSION} exists)`);
  }
  if (buf.length >= 2 && buf[1] !== ALG_CHACHA20_POLY1305) {
    throw badHeader(`unknown algorithm ${buf[1]} in byte 1 (only 1 = ChaCha20-Poly1305 exists)`);
  }
  if (buf.length < HEADER_FIXED_BYTES) return undefined;
  const length = buf.readUInt16BE(2);
  if (length < MIN_HEADER_LENGTH || length > MAX_HEADER_LENGTH) {
    throw badHeader(
      `header length ${length} is outside ${MIN_HEADER_LENGTH}..${MAX_HEADER_LENGTH} ` +
        `(6 bytes plus a key id of 2-20 characters)`,
    );
  }
  const chunkKiB = buf.readUInt16BE(4);
  if (chunkKiB > MAX_CHUNK_KIB) throw badHeader(`chunk size ${chunkKiB} KiB is above the maximum ${MAX_CHUNK_KIB} KiB`);
  const nonceBytes = chunkKiB === 0 ? VALUE_NONCE_BYTES : STREAM_NONCE_PREFIX_BYTES;
  if (buf.length < length) return undefined;
  const idBytes = buf.subarray(HEADER_FIXED_BYTES, length);
  const keyId = idBytes.toString('latin1');
  if (!isValidKeyId(keyId)) {
    if (keyId.startsWith('password$')) {
      throw badHeader(
        `key id ${printable(idBytes)} means it was encrypted with a password (cryptr's argon2id mode)`,
        'Lifeboat decrypts data encrypted with ENC_KEYS keys only; decrypt this one with the cryptr CLI',
      );
    }
    throw badHeader(`key id ${printable(idBytes)} is not 2-20 characters of a-z, A-Z, 0-9, _ or -`);
  }
  if (buf.length < length + nonceBytes) return undefined;
  const nonce = Buffer.from(buf.subarray(length, length + nonceBytes));
  return {
    header: { version: FORMAT_VERSION, algorithm: ALG_CHACHA20_POLY1305, length, chunkKiB, keyId },
    nonce,
    payloadOffset: length + nonceBytes,
  };
}

/**
 * The 12-byte nonce of stream chunk `index`: prefix(7) || u32 BE index || last flag.
 * Writes into `out` when given, so a hot loop reuses one buffer (node:crypto copies the IV).
 */
export function chunkNonce(
  prefix: Buffer,
  index: number,
  last: boolean,
  out: Buffer = Buffer.allocUnsafe(NONCE_BYTES),
): Buffer {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_CHUNKS)
    throw new RangeError(`chunk index ${index} is outside 0..2^32-1`);
  if (!last && index === MAX_CHUNKS - 1)
    throw new RangeError('a stream holds at most 2^32 chunks: the last counter value is reserved for the final chunk');
  prefix.copy(out, 0, 0, STREAM_NONCE_PREFIX_BYTES);
  out.writeUInt32BE(index, STREAM_NONCE_PREFIX_BYTES);
  out[NONCE_BYTES - 1] = last ? 1 : 0;
  return out;
}

/** Bytes of the encrypted stream for `plainBytes` of input (header, prefix, chunks, tags). */
export function encryptedStreamLength(plainBytes: number, keyId: string, chunkKiB = DEFAULT_CHUNK_KIB): number {
  const chunks = Math.max(1, Math.ceil(plainBytes / (chunkKiB * 1024)));
  return HEADER_FIXED_BYTES + keyId.length + STREAM_NONCE_PREFIX_BYTES + plainBytes + chunks * TAG_BYTES;
}
