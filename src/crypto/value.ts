import { randomBytes } from 'node:crypto';
import { LifeboatError } from '../errors.js';
import { open, seal } from './aead.js';
import { decodeHeader, encodeHeader, KEY_BYTES, TAG_BYTES, VALUE_NONCE_BYTES } from './format.js';
import type { EncryptionKey } from './keys.js';
import type { KeyLookup } from './stream.js';

/**
 * cryptr's single-value layout (`EncValue::encrypt`, checked in format.ts): header with chunk
 * size 0, a 12-byte random nonce, then `ciphertext || tag` of the whole value in one seal.
 * For small things held in memory (e.g. a session or a marker), never for backups.
 */

function checkKey(key: EncryptionKey): void {
  if (key.key.length !== KEY_BYTES)
    throw new LifeboatError(
      'BAD_KEY',
      `key "${key.id}" is ${key.key.length} bytes; ChaCha20-Poly1305 needs exactly ${KEY_BYTES}`,
    );
}

export function encryptValue(key: EncryptionKey, plaintext: Buffer): Buffer {
  checkKey(key);
  const nonce = randomBytes(VALUE_NONCE_BYTES);
  const header = encodeHeader(key.id, 0, nonce);
  const [body, tag] = seal(key.key, nonce, plaintext);
  return Buffer.concat([header, body, tag], header.length + body.length + tag.length);
}

export function decryptValue(keys: KeyLookup, data: Buffer): Buffer {
  const parsed = decodeHeader(data);
  if (!parsed)
    throw new LifeboatError(
      'TRUNCATED',
      `the encrypted value is ${data.length} bytes, shorter than its header and nonce`,
      { hint: 'the stored value is incomplete' },
    );
  const { header, nonce, payloadOffset } = parsed;
  if (header.chunkKiB !== 0) {
    throw new LifeboatError(
      'BAD_HEADER',
      `this is an encrypted stream (chunk size ${header.chunkKiB} KiB, key id "${header.keyId}"), not a single value`,
      {
        hint: 'decrypt it as a stream (createDecryptStream, `lifeboat decrypt`)',
      },
    );
  }
  const key = typeof keys === 'function' ? keys(header.keyId) : keys.get(header.keyId);
  if (!key) {
    const ids = typeof keys === 'function' ? 'not listed: keys are looked up on demand' : keys.ids.join(', ') || 'none';
    throw new LifeboatError(
      'KEY_UNKNOWN',
      `encrypted with key id "${header.keyId}", which is not in the key set (configured ids: ${ids})`,
      {
        hint: `add the key "${header.keyId}" to ENC_KEYS (keep retired keys there after a rotation)`,
      },
    );
  }
  checkKey(key);
  const sealed = data.subarray(payloadOffset);
  if (sealed.length < TAG_BYTES) {
    throw new LifeboatError(
      'TRUNCATED',
      `the encrypted value has ${sealed.length} bytes after its nonce, fewer than the ${TAG_BYTES}-byte tag`,
      { hint: 'the stored value is incomplete' },
    );
  }
  const plain = open(key.key, nonce, sealed);
  if (!plain) {
    throw new LifeboatError(
      'AUTH_FAILED',
      `authentication failed for the encrypted value: it is corrupt, cut short, ` +
        `or was encrypted with a different key than the one configured as "${key.id}"`,
      {
        hint: `check that ENC_KEYS holds the original key for id "${key.id}"`,
      },
    );
  }
  return plain;
}
