import type { KeyLookup } from '../crypto/stream.js';
import { LifeboatError } from '../errors.js';
import type { ListedObject, PitrObjectStore } from '../storage/object-store.js';
import { decodeMeta, type GenerationMeta } from './meta.js';
import { metaName, parsePitrName } from './names.js';
import { openObject } from './sealed.js';

/** The generations of dbId that a listing shows a meta of. */
export function genIdsWithMeta(dbId: string, listing: readonly ListedObject[]): string[] {
  return listing.flatMap(({ key }) => {
    const name = parsePitrName(key);
    return name?.kind === 'meta' && name.dbId === dbId ? [name.genId] : [];
  });
}

/** The codes of a meta that is there but cannot be used: readMeta's callers may pass over these. */
export const UNREADABLE_META = new Set([
  'PITR_KEY_MISSING',
  'PITR_OBJECT_TAMPERED',
  'PITR_OBJECT_MALFORMED',
  'PITR_OBJECT_MISMATCH',
]);

/** Whether `err` is a meta that cannot be opened (not a store that fails). */
export function unreadableMeta(err: unknown): err is LifeboatError {
  return err instanceof LifeboatError && UNREADABLE_META.has(err.code);
}

/**
 * A generation's meta from the bucket, opened and checked against its name; undefined when the
 * object is not there. A store that fails throws as it does; a meta that does not open (a key
 * not in the set, a damaged object) throws the LifeboatError of sealed.ts or meta.ts (unreadableMeta).
 */
export async function readMeta(
  store: PitrObjectStore,
  keys: KeyLookup,
  dbId: string,
  genId: string,
  options: { readonly signal?: AbortSignal | undefined } = {},
): Promise<GenerationMeta | undefined> {
  const name = metaName(dbId, genId);
  const object = await store.get(name, options);
  if (!object) return undefined;
  const plain = await openObject(object.body, keys, { kind: 'LBM1', dbId, genId, n: 0, name });
  return decodeMeta(plain, { name, dbId, genId });
}
