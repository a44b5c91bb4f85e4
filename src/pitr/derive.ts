import { hkdfSync } from 'node:crypto';
import { KEY_BYTES } from '../crypto/format.js';
import type { EncryptionKey } from '../crypto/keys.js';

/**
 * The per-object stream key of continuous backup (spec §3.4):
 *
 *   HKDF-SHA256(ikm = the ENC_KEYS key, salt = "lifeboat-pitr/1", info, L = 32)
 *   info = kind (4 ASCII bytes) ‖ dbId (16 bytes) ‖ genId (16 bytes) ‖ n (u64 big-endian)  — 44 bytes
 *
 * dbId and genId are the raw 16 bytes their 32 hex digits spell; kind is `LBS1` (segment,
 * n = seq), `LBB1` (base, n = its txid) or `LBM1` (meta, n = 0). Fixed widths, so no two
 * (kind, dbId, genId, n) give the same info and no length prefixes are needed.
 *
 * Why per object: cryptr's stream nonce prefix is 7 random bytes, and at one object a second
 * two streams under one key would share a prefix with probability ≈ 0.7 % within a year
 * (leaking plaintext XOR, allowing forgery). A key per object removes that bound, and binds
 * each object to its name: moved to another seq, generation or database it no longer
 * authenticates. The derived key keeps the source key's id, so the cryptr header names the
 * ENC_KEYS entry and rotation works as for snapshots. Hand-written: the HKDF is node:crypto's;
 * only the info encoding is Lifeboat's.
 */

export type ObjectKind = 'LBS1' | 'LBB1' | 'LBM1';

export const PITR_HKDF_SALT = Buffer.from('lifeboat-pitr/1', 'ascii');
export const INFO_BYTES = 44;

export interface ObjectKeyName {
  readonly kind: ObjectKind;
  readonly dbId: string;
  readonly genId: string;
  /** seq for a segment, txid for a base, 0 for meta. */
  readonly n: number;
}

/** The HKDF info bytes; exported for the test that recomputes the key independently. */
export function deriveInfo(name: ObjectKeyName): Buffer {
  const info = Buffer.alloc(INFO_BYTES);
  if (!/^LB[SBM]1$/.test(name.kind)) throw new RangeError(`unknown object kind ${name.kind}`);
  info.write(name.kind, 0, 'ascii');
  idBytes(name.dbId, 'dbId').copy(info, 4);
  idBytes(name.genId, 'genId').copy(info, 20);
  if (!Number.isSafeInteger(name.n) || name.n < 0) throw new RangeError(`n ${name.n} is not a whole number`);
  info.writeBigUInt64BE(BigInt(name.n), 36);
  return info;
}

function idBytes(id: string, what: string): Buffer {
  if (!/^[0-9a-f]{32}$/.test(id)) throw new RangeError(`${what} must be 32 lower-case hex digits`);
  return Buffer.from(id, 'hex');
}

/** The stream key of one object, under the same id as `key`. */
export function deriveObjectKey(key: EncryptionKey, name: ObjectKeyName): EncryptionKey {
  const okm = Buffer.from(hkdfSync('sha256', key.key, PITR_HKDF_SALT, deriveInfo(name), KEY_BYTES));
  return { id: key.id, key: okm };
}
