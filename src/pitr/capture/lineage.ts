import type { KeyLookup } from '../../crypto/stream.js';
import type { Logger } from '../../log.js';
import type { RestoreMarker } from '../../restore/swap.js';
import type { ListedObject, PitrObjectStore } from '../../storage/object-store.js';
import { genIdsWithMeta, readMeta, unreadableMeta } from '../meta-object.js';
import { genIdTime, parsePitrName } from '../names.js';

/**
 * Where a new generation sits in its database's history (spec §3.5, timelines): after a gap on
 * the current timeline, or branching from a restore on a new one. The restore marker beside the
 * database (restore/swap.ts) says what was restored and when; when nothing of this database
 * reached the bucket after that moment, the new generation is the restore's first: reason
 * `restored`, its parent the restored point when that was a point of this database's continuous
 * backup. Both times are this host's clocks (capture names objects with its own), so the
 * comparison needs no server time.
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
 * The timeline of a new generation: for one that branches from a restore to a point of this
 * database, one above the highest any generation is on; for any other, the timeline of the
 * newest generation before it (the one it follows, after a gap), or 1 for the first. A meta that
 * cannot be opened (a key no longer in the key set, a damaged object) is passed over and logged.
 */
export async function timelineOf(
  branches: boolean,
  store: PitrObjectStore,
  keys: KeyLookup,
  dbId: string,
  listed: readonly ListedObject[],
  log?: Logger,
): Promise<number> {
  const genIds = genIdsWithMeta(dbId, listed).sort().reverse(); // newest first: genIds begin with their creation time
  let highest = 0;
  for (const genId of genIds) {
    const timeline = await readTimeline(store, keys, dbId, genId, log);
    if (timeline === undefined) continue;
    if (!branches) return timeline;
    highest = Math.max(highest, timeline);
  }
  return branches ? Math.max(highest, 1) + 1 : 1;
}

async function readTimeline(
  store: PitrObjectStore,
  keys: KeyLookup,
  dbId: string,
  genId: string,
  log: Logger | undefined,
): Promise<number | undefined> {
  try {
    return (await readMeta(store, keys, dbId, genId))?.timeline;
  } catch (err) {
    // A failing store fails the new generation (it is tried again), rather than give it a wrong timeline.
    if (!unreadableMeta(err)) throw err;
    log?.warn({ err, genId }, 'continuous backup: a generation meta cannot be read; its timeline is not counted');
    return undefined;
  }
}
