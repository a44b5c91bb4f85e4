import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decodeHeader } from '../crypto/format.js';
import type { EncryptionKey } from '../crypto/keys.js';
import { createDecryptStream, createEncryptStream, type KeyLookup } from '../crypto/stream.js';
import { LifeboatError } from '../errors.js';
import { deriveObjectKey, type ObjectKeyName } from './derive.js';

/**
 * A whole PITR object (segment, meta) in memory ↔ one cryptr v1 stream (128 KiB chunks) under
 * its per-object key (derive.ts). The stream machinery is the snapshots' own
 * (src/crypto/stream.ts); this module only picks the key and turns the stream's failures into
 * errors that name the object. Buffers, not streams: a segment is at most a few tens of MiB
 * (segment_max, 16 MiB plaintext by default) and its digest and records are checked as a
 * whole anyway; bases, which are database-sized, stream through the same key derivation.
 */

export interface ObjectRef extends ObjectKeyName {
  /** The object's name (relative to the store prefix), for messages. */
  readonly name: string;
}

const TAMPERED_HINT =
  'this object cannot be used: it was modified, cut short or moved in the bucket (or damaged in transit — ' +
  'fetch it again); restore to a point before it, and check the bucket for other changes';

export async function sealObject(
  plaintext: Buffer,
  key: EncryptionKey,
  name: ObjectKeyName,
  options: { readonly noncePrefix?: Buffer } = {},
): Promise<Buffer> {
  const encrypt = createEncryptStream(deriveObjectKey(key, name), options);
  return collect(Readable.from([plaintext]), encrypt);
}

/**
 * The plaintext of `ciphertext`, authenticated under the key derived for `ref`; otherwise
 * PITR_KEY_MISSING (the key id is not in the key set) or PITR_OBJECT_TAMPERED (any other
 * failure of the encrypted layer), both naming the object.
 */
export async function openObject(ciphertext: Buffer, keys: KeyLookup, ref: ObjectRef): Promise<Buffer> {
  const label = `${kindLabel(ref.kind)} ${ref.name}`;
  let keyId: string;
  try {
    const parsed = decodeHeader(ciphertext);
    if (!parsed) throw tampered(label, `it is ${ciphertext.length} bytes, cut short inside its encryption header`);
    if (parsed.header.chunkKiB === 0)
      throw tampered(label, 'it is a cryptr single value, not the encrypted stream Lifeboat writes under this name');
    keyId = parsed.header.keyId;
  } catch (err) {
    throw asTampered(err, label);
  }
  const key = typeof keys === 'function' ? keys(keyId) : keys.get(keyId);
  if (!key) {
    const ids = typeof keys === 'function' ? 'looked up on demand' : keys.ids.join(', ') || 'none';
    throw new LifeboatError(
      'PITR_KEY_MISSING',
      `${label} is encrypted with key id "${keyId}", which is not in ENC_KEYS (configured ids: ${ids})`,
      {
        hint:
          `add the key "${keyId}" back to ENC_KEYS: every key used within the restore window must stay there ` +
          'after a rotation (`lifeboat pitr verify` lists the ids in use)',
      },
    );
  }
  const derived = deriveObjectKey(key, ref);
  try {
    return await collect(
      Readable.from([ciphertext]),
      createDecryptStream((id) => (id === keyId ? derived : undefined)),
    );
  } catch (err) {
    throw asTampered(err, label);
  }
}

function kindLabel(kind: ObjectKeyName['kind']): string {
  return kind === 'LBS1' ? 'segment' : kind === 'LBB1' ? 'base' : 'generation meta';
}

function tampered(label: string, what: string, cause?: unknown): LifeboatError {
  return new LifeboatError(
    'PITR_OBJECT_TAMPERED',
    `${label} fails authentication: ${what}. Its key is derived from its name, so an object copied or moved ` +
      'to another name fails the same way',
    { hint: TAMPERED_HINT, ...(cause === undefined ? {} : { cause }) },
  );
}

/** The encrypted layer's verdicts (AUTH_FAILED, TRUNCATED, TRAILING_DATA, BAD_HEADER) as PITR_OBJECT_TAMPERED. */
function asTampered(err: unknown, label: string): unknown {
  if (!(err instanceof LifeboatError)) return err;
  if (err.code === 'PITR_OBJECT_TAMPERED') return err;
  if (['AUTH_FAILED', 'TRUNCATED', 'TRAILING_DATA', 'BAD_HEADER'].includes(err.code))
    return tampered(label, err.message, err);
  return err;
}

async function collect(source: Readable, transform: NodeJS.ReadWriteStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(source, transform, async (chunks: AsyncIterable<Buffer | string>) => {
    for await (const chunk of chunks) parts.push(chunk as Buffer);
  });
  return Buffer.concat(parts);
}
