import type { KeyLookup } from '../../crypto/stream.js';
import type { Logger } from '../../log.js';
import type { RestoreMarker } from '../../restore/swap.js';
import type { ListedObject, PitrObjectStore } from '../../storage/object-store.js';
import { decodeMeta } from '../meta.js';
import { genIdTime, parsePitrName } from '../names.js';
import { openObject } from '../sealed.js';

/**
 * Whether a new generation begins because the database was restored (spec §3.5, timelines),
 * rather than after a gap. The restore marker beside the database (restore/swap.ts) says what
 * was restored and when; when nothing of this database reached the bucket after that moment,
 * the new generation is the restore's first: reason `restored`, its parent the restored point
 * when that was a point of this database's continuous backup. Both times are this host's
 * clocks (capture names objects with its own), so the comparison needs no server time.
 */

export interface RestoredFrom {
  /** The restore's source as the operator gave it, and what it resolved to. */
  readonly source: string;
  readonly origin: string;
  readonly appliedMs: number;
  /** The restored point, when it was one of this database's continuous backup. */
  readonly parent: { readonly genId: string; readonly txid: number } | null;
}

/** The restore a generation begun now branches from; undefined when the bucket has moved past the last one. */
export function restoredFrom(
  marker: RestoreMarker | undefined,
  dbId: string,
  listed: readonly ListedObject[],
): RestoredFrom | undefined {
  if (!marker) return undefined;
  const appliedMs = Date.parse(marker.appliedAt);
  if (!Number.isFinite(appliedMs)) return undefined;
  if (newestMs(dbId, listed) >= appliedMs) return undefined;
  const m = /^pitr:([0-9a-f]{32})\/([0-9a-f]{32})\/(\d+)$/.exec(marker.origin);
  const parent = m && m[1] === dbId ? { genId: m[2]!, txid: Number(m[3]) } : null;
  return { source: marker.source, origin: marker.origin, appliedMs, parent };
}

/** The newest time any listed object of dbId names: bases, segments, and generations' creation. */
function newestMs(dbId: string, listed: readonly ListedObject[]): number {
  let newest = Number.NEGATIVE_INFINITY;
  for (const { key } of listed) {
    const name = parsePitrName(key);
    if (!name || !('dbId' in name) || name.dbId !== dbId) continue;
    if (name.kind === 'base') newest = Math.max(newest, name.ms);
    else if (name.kind === 'segment') newest = Math.max(newest, name.lastMs);
    else if (name.kind === 'meta') newest = Math.max(newest, genIdTime(name.genId));
  }
  return newest;
}

/**
 * The timeline of a generation that branches from a restore: one above the highest any
 * generation of dbId is on (spec §3.5). A meta that cannot be read (a key no longer in the key
 * set, a damaged object) is left out and logged: it cannot raise the number by more than the
 * generations it hides.
 */
export async function nextTimeline(
  store: PitrObjectStore,
  keys: KeyLookup,
  dbId: string,
  listed: readonly ListedObject[],
  log?: Logger,
): Promise<number> {
  let highest = 1;
  for (const { key } of listed) {
    const name = parsePitrName(key);
    if (name?.kind !== 'meta' || name.dbId !== dbId) continue;
    try {
      const object = await store.get(key);
      if (!object) continue; // removed by retention since the listing
      const ref = { kind: 'LBM1', dbId, genId: name.genId, n: 0, name: key } as const;
      const plain = await openObject(object.body, keys, ref);
      highest = Math.max(highest, decodeMeta(plain, { name: key, dbId, genId: name.genId }).timeline);
    } catch (err) {
      log?.warn({ err, meta: key }, 'continuous backup: a generation meta cannot be read; its timeline is not counted');
    }
  }
  return highest + 1;
}
