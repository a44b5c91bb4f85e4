import { randomBytes } from 'node:crypto';
import { LifeboatError } from '../errors.js';
import { open, seal } from './aead.js';
import { decodeHeader, encodeHeader, VALUE_NONCE_BYTES } from './format.js';
import type { EncryptionKey, KeySet } from './keys.js';

/** cryptr's single-value layout: header (chunk size 0) + 12-byte nonce + ciphertext || tag. */
export function encryptValue(key: EncryptionKey, plaintext: Buffer): Buffer {
  const nonce = randomBytes(VALUE_NONCE_BYTES);
  return Buffer.concat([encodeHeader(key.id, 0, nonce), ...seal(key.key, nonce, plaintext)]);
}

export function decryptValue(keys: KeySet, data: Buffer): Buffer {
  const parsed = decodeHeader(data);
  if (!parsed) throw new LifeboatError('TRUNCATED', 'the encrypted value is shorter than its header');
  if (parsed.header.chunkKiB !== 0) throw new LifeboatError('BAD_HEADER', 'this is an encrypted stream, not a single value');
  const key = keys.get(parsed.header.keyId);
  if (!key) {
    throw new LifeboatError('KEY_UNKNOWN', `encrypted with key id "${parsed.header.keyId}", which is not in the key set (configured ids: ${keys.ids.join(', ')})`, {
      hint: `add the key "${parsed.header.keyId}" to ENC_KEYS`,
    });
  }
  const plain = open(key.key, parsed.nonce, data.subarray(parsed.payloadOffset));
  if (!plain) throw new LifeboatError('AUTH_FAILED', `authentication failed: the value is corrupt or was encrypted with a different key than "${key.id}"`);
  return plain;
}
