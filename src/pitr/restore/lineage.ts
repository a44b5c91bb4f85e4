import type { KeyLookup } from '../../crypto/stream.js';
import { LifeboatError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { ListedObject, PitrObjectStore } from '../../storage/object-store.js';
import { genIdsWithMeta, readMeta, unreadableMeta } from '../meta-object.js';
import { parsePitrName } from '../names.js';
import type { PitrTarget } from './plan.js';

/**
 * The line of descent a time target is resolved along (spec §3.5, §3.10). After a restore to a
 * point, capture's next generation names that point as its parent and opens a new timeline; the
 * commits the old generation kept after the point are another branch. A time is a moment of the
 * head's history: in an ancestor, only up to the point its child branched from — not the
 * abandoned branch's rows, which a restore to undo them must not bring back. (A txid names one
 * transaction wherever it is, and `latest` is the head: neither needs this.)
 */

/** What a generation's meta says about where it sits. */
export interface GenerationLink {
  readonly reason: string;
  readonly parent: { readonly genId: string; readonly txid: number } | null;
  readonly timeline: number;
}

/** Each generation on the line, with the last txid of it the line holds (undefined: all of it). */
export type Lineage = ReadonlyMap<string, number | undefined>;

/**
 * The line from `head` back: a generation that branched from a restore goes on in its parent, up
 * to the parent's txid; any other in the newest older generation on its timeline (the one it
 * followed after a gap), all of it. A parent whose meta is unknown is on the line and ends it.
 */
export function lineageOf(links: ReadonlyMap<string, GenerationLink>, head: string): Lineage {
  const line = new Map<string, number | undefined>();
  const oldestFirst = [...links.keys()].sort(); // genIds begin with their creation time
  let at: string | undefined = head;
  let cut: number | undefined;
  while (at !== undefined && !line.has(at)) {
    line.set(at, cut);
    const link = links.get(at);
    if (!link) break;
    if (link.parent) {
      [at, cut] = [link.parent.genId, link.parent.txid];
      continue;
    }
    const here: string = at;
    at = oldestFirst.filter((g) => g < here && links.get(g)!.timeline === link.timeline).at(-1);
    cut = undefined;
  }
  return line;
}

/** The generation a line starts from: the head of its timeline (lineageOf puts it first). */
export function headOf(line: Lineage): string | undefined {
  return line.keys().next().value;
}

/**
 * The line `target` is resolved along (readLineage): a time's, and any target's on a timeline
 * named; undefined for `latest` and a txid otherwise, which need no meta.
 */
export function lineageFor(
  store: PitrObjectStore,
  keys: KeyLookup,
  dbId: string,
  listing: readonly ListedObject[],
  target: PitrTarget,
  options: LineageOptions = {},
): Promise<Lineage | undefined> {
  if (target.kind !== 'time' && options.timeline === undefined) return Promise.resolve(undefined);
  return readLineage(store, keys, dbId, listing, options);
}

export interface LineageOptions {
  readonly log?: Logger | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly timeline?: number | undefined;
}

/**
 * The lineage of the newest generation with a base — of timeline `options.timeline` when given
 * (`restore --pitr … --timeline K`: a branch a restore left) — from the metas of `listing` (GETs,
 * a few at a time). Undefined when the head's meta cannot be read: the caller then resolves the
 * time over every generation, as before metas named parents. Metas that do not open are logged
 * and left out. A timeline with no generation whose meta says so is refused, naming those there are.
 */
export async function readLineage(
  store: PitrObjectStore,
  keys: KeyLookup,
  dbId: string,
  listing: readonly ListedObject[],
  options: LineageOptions = {},
): Promise<Lineage | undefined> {
  const withBase = new Set<string>();
  for (const { key } of listing) {
    const name = parsePitrName(key);
    if (name?.kind === 'base' && name.dbId === dbId) withBase.add(name.genId);
  }
  const newestFirst = [...withBase].sort().reverse();
  const withMeta = genIdsWithMeta(dbId, listing);
  if (newestFirst.length === 0) return undefined;
  const links = await readLinks(store, keys, dbId, withMeta, options);
  const { timeline } = options;
  if (timeline !== undefined) {
    const head = newestFirst.find((g) => links.get(g)?.timeline === timeline);
    if (head === undefined) throw noTimeline(dbId, timeline, links, withBase);
    return lineageOf(links, head);
  }
  const head = newestFirst[0]!;
  if (!links.has(head)) {
    options.log?.warn(
      { genId: head },
      'restore: the newest generation has no readable meta; a time is resolved over every generation',
    );
    return undefined;
  }
  return lineageOf(links, head);
}

/**
 * The links of the generations `genIds` from their metas, fetched a few at a time; a meta that
 * is gone or does not open is left out (logged). A store that fails throws.
 */
export async function readLinks(
  store: PitrObjectStore,
  keys: KeyLookup,
  dbId: string,
  genIds: readonly string[],
  options: { readonly log?: Logger | undefined; readonly signal?: AbortSignal | undefined } = {},
): Promise<Map<string, GenerationLink>> {
  const links = new Map<string, GenerationLink>();
  for (let i = 0; i < genIds.length; i += META_READS) {
    await Promise.all(
      genIds.slice(i, i + META_READS).map(async (genId) => {
        try {
          const meta = await readMeta(store, keys, dbId, genId, { signal: options.signal });
          if (meta) links.set(genId, { reason: meta.reason, parent: meta.parent, timeline: meta.timeline });
        } catch (err) {
          if (!unreadableMeta(err)) throw err;
          options.log?.warn({ err, genId }, 'a generation meta cannot be read; it is left out of the lineage');
        }
      }),
    );
  }
  return links;
}

/** Metas fetched at once. */
const META_READS = 8;

/** `--timeline K` names no timeline with a restorable generation: what there is instead. */
function noTimeline(
  dbId: string,
  timeline: number,
  links: ReadonlyMap<string, GenerationLink>,
  withBase: ReadonlySet<string>,
): LifeboatError {
  const heads = new Map<number, string>();
  for (const g of [...withBase].sort()) {
    const t = links.get(g)?.timeline;
    if (t !== undefined) heads.set(t, g);
  }
  const known = [...heads].sort((a, b) => a[0] - b[0]).map(([t, g]) => `${t} (newest generation ${g})`);
  const unread = [...withBase].filter((g) => !links.has(g)).length;
  return new LifeboatError(
    'PITR_TARGET_UNRESTORABLE',
    `database ${dbId} has no restorable generation on timeline ${timeline}: ` +
      (known.length ? `its timelines are ${known.join(', ')}` : 'no generation meta could be read') +
      (unread ? `; ${unread} generation(s) with a base have no readable meta` : ''),
    { hint: "`lifeboat pitr list` shows each generation's timeline; leave out --timeline for the newest" },
  );
}
