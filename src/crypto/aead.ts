import { createCipheriv, createDecipheriv } from 'node:crypto';
import { droppedBuffers } from '../memory.js';
import { CIPHER_NAME, TAG_BYTES } from './format.js';

/**
 * One ChaCha20-Poly1305 (RFC 8439) message through node:crypto (OpenSSL). The format uses an
 * empty AAD; `aad` exists so the RFC's own test vector can go through this exact code path.
 */

/**
 * Seals `plaintext`: returns `[ciphertext, tag]` as two buffers, so callers can hand both to
 * a stream without concatenating (a copy of every chunk otherwise).
 */
export function seal(key: Buffer, nonce: Buffer, plaintext: Buffer, aad?: Buffer): [Buffer, Buffer] {
  const cipher = createCipheriv(CIPHER_NAME, key, nonce, { authTagLength: TAG_BYTES });
  if (aad) cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const body = cipher.update(plaintext);
  cipher.final();
  droppedBuffers(body.length);
  return [body, cipher.getAuthTag()];
}

/**
 * Opens `ciphertext || tag`. Returns the plaintext only when the tag verifies, otherwise
 * undefined: the caller decides which error it is (wrong key, damage, truncation, ...).
 */
export function open(key: Buffer, nonce: Buffer, sealed: Buffer, aad?: Buffer): Buffer | undefined {
  if (sealed.length < TAG_BYTES) return undefined;
  const split = sealed.length - TAG_BYTES;
  const decipher = createDecipheriv(CIPHER_NAME, key, nonce, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(sealed.subarray(split));
  if (aad) decipher.setAAD(aad, { plaintextLength: split });
  const body = decipher.update(sealed.subarray(0, split));
  droppedBuffers(body.length);
  try {
    decipher.final();
  } catch {
    // OpenSSL says only "Unsupported state or unable to authenticate data"; the caller names it.
    return undefined;
  }
  return body;
}
