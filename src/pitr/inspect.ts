import { LifeboatError } from '../errors.js';
import type { ListedObject } from '../storage/object-store.js';
import { generationPrefix, genIdTime, PITR_ROOT, parsePitrName } from './names.js';
import type { GenerationLink } from './restore/lineage.js';
import {
  type ListedGeneration,
  mergeRanges,
  type PlannedSegment,
  planRestore,
  type RestorableRange,
  surveyRestorable,
} from './restore/plan.js';

/**
 * What a bucket holds of continuous backup and what of it can be restored, from a LIST and
 * nothing else (no object is downloaded or decrypted): `lifeboat pitr list|status`. The ranges
 * are the restore planner's own (surveyRestorable, planRestore in restore/plan.ts), so what this
 * shows as restorable is what `restore --pitr` plans — names can be wrong only towards a
 * refusal, which the applier makes when it reads the objects (`lifeboat verify pitr:…`).
 */

/** Seqs missing inside a generation, with the segments around them. */
export interface Hole {
  readonly fromSeq: number;
  readonly toSeq: number;
  /** The segment before the hole (undefined when the hole starts at seq 1): its last transaction. */
  readonly before: { readonly seq: number; readonly txid: number; readonly ms: number } | undefined;
  /** The segment after it: its last transaction (its first is not in its name). */
  readonly after: { readonly seq: number; readonly txid: number; readonly ms: number };
}

export interface GenerationReport {
  readonly genId: string;
  /** The creation time in the genId. */
  readonly createdMs: number;
  readonly bases: readonly { readonly txid: number; readonly ms: number; readonly bytes: number }[];
  readonly segments: {
    readonly count: number;
    readonly firstSeq: number | undefined;
    readonly lastSeq: number | undefined;
    readonly bytes: number;
  };
  /** Its oldest base (where it begins); undefined when it has none yet. */
  readonly first: { readonly txid: number; readonly ms: number } | undefined;
  /** The newest transaction its objects name. */
  readonly last: { readonly txid: number; readonly ms: number } | undefined;
  readonly hasMeta: boolean;
  /** Its timeline, and the restored point it began from, as its meta says (undefined: not read or unreadable). */
  readonly link: GenerationLink | undefined;
  /** Every object under the generation (meta, bases, segments, anything else), as stored. */
  readonly objects: number;
  readonly bytes: number;
  readonly holes: readonly Hole[];
  /** As the planner computes them: one per base. */
  readonly ranges: readonly RestorableRange[];
}

/** Between two restorable windows: a hole in one generation, or the start of a newer one. */
export interface Gap {
  /**
   * `hole`: segments are missing. `generation`: a newer generation starts with a base; what was
   * committed between the older one's last shipped transaction and that base is in the base,
   * but not restorable one transaction at a time, and no time in between can be restored.
   * `restore`: the newer generation began from a restore to `branchedFrom` (its meta says so);
   * nothing was lost, and a time in between restores that point (restore/lineage.ts).
   */
  readonly kind: 'hole' | 'generation' | 'restore';
  /** For a `restore`: the point restored. */
  readonly branchedFrom?: { readonly genId: string; readonly txid: number };
  /** For a `restore`: the timeline of the branch it left (`restore --pitr … --timeline K` reaches its times). */
  readonly branchTimeline?: number;
  /** The last restorable transaction before the gap. */
  readonly from: { readonly genId: string; readonly txid: number; readonly ms: number };
  /** The first restorable transaction after it. */
  readonly to: { readonly genId: string; readonly txid: number; readonly ms: number };
}

export interface DatabaseReport {
  readonly dbId: string;
  readonly generations: readonly GenerationReport[];
  /** The planner's ranges (one per base), oldest generation first. */
  readonly ranges: readonly RestorableRange[];
  /** The ranges merged into what is reachable without a break, oldest first. */
  readonly windows: readonly RestorableRange[];
  readonly gaps: readonly Gap[];
  readonly oldest: { readonly genId: string; readonly txid: number; readonly ms: number } | undefined;
  /** The newest restorable transaction (by txid: txids keep rising across generations). */
  readonly newest: { readonly genId: string; readonly txid: number; readonly ms: number } | undefined;
  /** The newest transaction any object names, restorable or not. */
  readonly newestShipped: { readonly txid: number; readonly ms: number } | undefined;
  /** What `restore --pitr latest` would restore; undefined when the planner refuses. */
  readonly latest: { readonly genId: string; readonly txid: number; readonly ms: number } | undefined;
  /** The planner's refusal of `latest` (code and message), when it refuses. */
  readonly latestRefused: { readonly code: string; readonly message: string } | undefined;
  readonly objects: number;
  readonly bytes: number;
}

/** The database ids a listing of PITR_ROOT names, in key order. */
export function databaseIds(listing: readonly ListedObject[]): string[] {
  const ids = new Set<string>();
  for (const { key } of listing) {
    const name = parsePitrName(key);
    if (name && 'dbId' in name) ids.add(name.dbId);
  }
  return [...ids];
}

/**
 * The report of one database from a listing of its prefix (a listing of more is filtered); with
 * the generations' links (from their metas), a generation a restore began is told from a gap.
 */
export function inspectDatabase(
  dbId: string,
  listing: readonly ListedObject[],
  links?: ReadonlyMap<string, GenerationLink>,
): DatabaseReport {
  const survey = surveyRestorable(dbId, listing);
  const mine = listing.filter((o) => o.key.startsWith(`${PITR_ROOT}${dbId}/`));
  const generations = survey.generations.map((g) => generationReport(dbId, g, mine, links));
  // Generations with a meta but no base or segment yet (capture was starting) are shown too.
  const seen = new Set(generations.map((g) => g.genId));
  for (const { key } of mine) {
    const name = parsePitrName(key);
    if (name?.kind === 'meta' && !seen.has(name.genId)) {
      seen.add(name.genId);
      generations.push(generationReport(dbId, { genId: name.genId, bases: [], segments: [], ranges: [] }, mine, links));
    }
  }
  generations.sort((a, b) => (a.genId < b.genId ? -1 : 1));

  const windows = mergeRanges(survey.ranges);
  const gaps: Gap[] = [];
  for (let i = 1; i < windows.length; i++) {
    const a = windows[i - 1]!;
    const b = windows[i]!;
    const from = { genId: a.genId, txid: a.toTxid, ms: a.toMs };
    const to = { genId: b.genId, txid: b.fromTxid, ms: b.fromMs };
    const parent = a.genId === b.genId ? null : (links?.get(b.genId)?.parent ?? null);
    const branchTimeline = parent ? links?.get(parent.genId)?.timeline : undefined;
    gaps.push(
      parent
        ? { kind: 'restore', from, to, branchedFrom: parent, ...(branchTimeline ? { branchTimeline } : {}) }
        : { kind: a.genId === b.genId ? 'hole' : 'generation', from, to },
    );
  }
  const first = windows[0];
  const last = windows.reduce<RestorableRange | undefined>((m, w) => (!m || w.toTxid > m.toTxid ? w : m), undefined);

  let latest: DatabaseReport['latest'];
  let latestRefused: DatabaseReport['latestRefused'];
  try {
    const plan = planRestore(dbId, mine, { kind: 'latest' });
    const end = plan.segments.at(-1);
    latest = end
      ? { genId: plan.genId, txid: end.lastTxid, ms: end.lastMs }
      : { genId: plan.genId, txid: plan.base.txid, ms: plan.base.ms };
  } catch (err) {
    if (!(err instanceof LifeboatError)) throw err;
    latestRefused = { code: err.code, message: err.message };
  }
  return {
    dbId,
    generations,
    ranges: survey.ranges,
    windows,
    gaps,
    oldest: first && { genId: first.genId, txid: first.fromTxid, ms: first.fromMs },
    newest: last && { genId: last.genId, txid: last.toTxid, ms: last.toMs },
    newestShipped: survey.newest,
    latest,
    latestRefused,
    objects: mine.length,
    bytes: mine.reduce((sum, o) => sum + o.size, 0),
  };
}

function generationReport(
  dbId: string,
  g: ListedGeneration,
  listing: readonly ListedObject[],
  links: ReadonlyMap<string, GenerationLink> | undefined,
): GenerationReport {
  const prefix = generationPrefix(dbId, g.genId);
  const objects = listing.filter((o) => o.key.startsWith(prefix));
  const lastSegment = g.segments.at(-1);
  const newestBase = g.bases.at(-1);
  const last =
    lastSegment && (!newestBase || lastSegment.lastTxid >= newestBase.txid)
      ? { txid: lastSegment.lastTxid, ms: lastSegment.lastMs }
      : newestBase && { txid: newestBase.txid, ms: newestBase.ms };
  const oldestBase = g.bases[0];
  return {
    genId: g.genId,
    createdMs: genIdTime(g.genId),
    bases: g.bases.map((b) => ({ txid: b.txid, ms: b.ms, bytes: b.size })),
    segments: {
      count: g.segments.length,
      firstSeq: g.segments[0]?.seq,
      lastSeq: lastSegment?.seq,
      bytes: g.segments.reduce((sum, s) => sum + s.size, 0),
    },
    first: oldestBase && { txid: oldestBase.txid, ms: oldestBase.ms },
    last,
    hasMeta: objects.some((o) => parsePitrName(o.key)?.kind === 'meta'),
    link: links?.get(g.genId),
    objects: objects.length,
    bytes: objects.reduce((sum, o) => sum + o.size, 0),
    holes: holesOf(g.segments, g.bases),
    ranges: g.ranges,
  };
}

/**
 * The seqs missing from 1 to the highest listed. Capture numbers a generation's segments from 1
 * without holes, so a missing seq is a loss — except the first ones when retention removed them:
 * it keeps the segment the oldest base it keeps follows (whose last txid is that base's), and
 * deletes only those before it, which no base left needs.
 */
export function holesOf(segments: readonly PlannedSegment[], bases: readonly { readonly txid: number }[] = []): Hole[] {
  const holes: Hole[] = [];
  let previous: PlannedSegment | undefined;
  const pruned = segments[0] !== undefined && bases.some((b) => b.txid === segments[0]!.lastTxid);
  for (const s of segments) {
    const expected = previous ? previous.seq + 1 : pruned ? s.seq : 1;
    if (s.seq > expected) {
      holes.push({
        fromSeq: expected,
        toSeq: s.seq - 1,
        before: previous && { seq: previous.seq, txid: previous.lastTxid, ms: previous.lastMs },
        after: { seq: s.seq, txid: s.lastTxid, ms: s.lastMs },
      });
    }
    previous = s;
  }
  return holes;
}
