import { LifeboatError } from '../../errors.js';
import type { ListedObject } from '../../storage/object-store.js';
import { type BaseName, dbPrefix, parsePitrName, type SegmentName } from '../names.js';
import { headOf, type Lineage } from './lineage.js';

/**
 * What a point-in-time restore fetches, planned from one LIST of `lifeboat-pitr/<dbId>/`
 * (spec §3.10, steps 2–3): names carry seq, lastTxid and lastMs (segments) and txid and ms
 * (bases), in fixed-width hex and decimal, so no object is opened to plan.
 *
 * Per generation, a base at txid T is followed by the segments whose lastTxid is above T,
 * from the lowest such seq on, without holes (its `run`): the base can restore every txid from
 * T to the run's last. The base's afterSeq is not in its name; the plan's guess (the run's
 * first seq − 1) is checked against the base's header by the applier, which also checks every
 * link of the chain (prevDigest, firstTxid): a plan from names can be wrong only towards a
 * refusal, never towards restoring something else.
 *
 * Targets: `latest` = the newest generation (by genId, which starts with its creation time)
 * that has a base, to the end of its newest base's run — refused (PITR_CHAIN_GAP) when segments
 * lie beyond a hole in that run: restoring less than the newest shipped state is never silent;
 * `txid` = the generation and newest base whose run holds it; `time` = the newest generation
 * with a base observed at or before it, its newest such base, up to the first segment whose
 * lastMs is after the time (the applier finds the exact transaction in its records). A target no run reaches fails with
 * PITR_TARGET_UNRESTORABLE or PITR_CHAIN_GAP, naming the nearest restorable ranges. Given a lineage
 * (lineage.ts), a time is resolved only in its generations, and in an ancestor only up to the
 * point its child branched from (`stopAtTxid`); and `latest` is the newest state of the line's head
 * (`--timeline K`: the newest generation of a branch a restore left).
 */

export type PitrTarget =
  | { readonly kind: 'latest' }
  | { readonly kind: 'txid'; readonly txid: number }
  | { readonly kind: 'time'; readonly ms: number };

export interface PlannedObject {
  readonly name: string;
  readonly size: number;
}

export type PlannedSegment = SegmentName & PlannedObject;
export type PlannedBase = BaseName & PlannedObject;

/** A range of transactions a base and its run can restore. */
export interface RestorableRange {
  readonly genId: string;
  readonly fromTxid: number;
  readonly fromMs: number;
  readonly toTxid: number;
  readonly toMs: number;
}

export interface RestorePlan {
  readonly dbId: string;
  readonly genId: string;
  readonly target: PitrTarget;
  readonly base: PlannedBase;
  /** The segments the target needs, in seq order, contiguous, starting right after the base. */
  readonly segments: readonly PlannedSegment[];
  /**
   * The rest of the base's run: fetched only when the last needed segment ends inside the
   * target transaction (split across segments: its name gives only its last txid).
   */
  readonly more: readonly PlannedSegment[];
  /**
   * A time target in an ancestor on the lineage: the restored point its child branched from.
   * The restore stops there even when the time is later (what came after it is another branch).
   */
  readonly stopAtTxid?: number;
  /** The newest transaction any listed object names (every generation): what exists, restorable or not. */
  readonly newest: { readonly txid: number; readonly ms: number };
  /** The ranges this database can be restored to, oldest first (for messages and `pitr status`). */
  readonly ranges: readonly RestorableRange[];
}

interface Generation {
  readonly genId: string;
  readonly bases: PlannedBase[];
  /** By seq. */
  readonly segments: Map<number, PlannedSegment>;
  readonly seqs: number[];
}

interface Run {
  readonly base: PlannedBase;
  readonly segments: PlannedSegment[];
  /** The seq after the run's last when that seq is missing but later ones exist (a hole). */
  readonly holeAt: number | undefined;
}

/** A generation as its object names show it: for `lifeboat pitr list`, and what the planner plans from. */
export interface ListedGeneration {
  readonly genId: string;
  /** By txid. */
  readonly bases: readonly PlannedBase[];
  /** By seq. */
  readonly segments: readonly PlannedSegment[];
  /** What each base and its run can restore, in the order of the bases. */
  readonly ranges: readonly RestorableRange[];
}

/** What a listing of dbPrefix(dbId) holds and can restore, without planning a target. */
export interface RestorableSurvey {
  readonly dbId: string;
  /** Oldest first (by genId, which starts with its creation time). */
  readonly generations: readonly ListedGeneration[];
  /** Every generation's ranges, oldest generation first: exactly the ranges planRestore works with. */
  readonly ranges: readonly RestorableRange[];
  /** The newest transaction any listed base or segment names; undefined when there is none. */
  readonly newest: { readonly txid: number; readonly ms: number } | undefined;
}

interface Survey {
  /** Oldest first. */
  readonly gens: readonly Generation[];
  readonly runs: Map<Generation, Run[]>;
  readonly ranges: readonly RestorableRange[];
  readonly newest: { txid: number; ms: number };
}

/** Generations, runs and ranges from a listing: the one reading of the names that planning and `pitr list` share. */
function surveyOf(dbId: string, listing: readonly ListedObject[]): Survey {
  const prefix = dbPrefix(dbId);
  const generations = new Map<string, Generation>();
  let newest = { txid: -1, ms: 0 };
  for (const { key, size } of listing) {
    const name = parsePitrName(key);
    if (!name || !key.startsWith(prefix) || (name.kind !== 'base' && name.kind !== 'segment')) continue;
    let g = generations.get(name.genId);
    if (!g) {
      g = { genId: name.genId, bases: [], segments: new Map(), seqs: [] };
      generations.set(name.genId, g);
    }
    if (name.kind === 'base') {
      g.bases.push({ ...name, name: key, size });
      if (name.txid > newest.txid) newest = { txid: name.txid, ms: name.ms };
    } else {
      g.segments.set(name.seq, { ...name, name: key, size });
      if (name.lastTxid > newest.txid) newest = { txid: name.lastTxid, ms: name.lastMs };
    }
  }
  // Oldest generation first; genIds start with 12 hex digits of their creation time.
  const gens = [...generations.values()].sort((a, b) => (a.genId < b.genId ? -1 : 1));
  for (const g of gens) {
    g.bases.sort((a, b) => a.txid - b.txid);
    g.seqs.push(...[...g.segments.keys()].sort((a, b) => a - b));
  }
  const runs = new Map<Generation, Run[]>(gens.map((g) => [g, g.bases.map((b) => runOf(g, b))]));
  const ranges = gens.flatMap((g) => runs.get(g)!.map((r) => rangeOf(g.genId, r)));
  return { gens, runs, ranges, newest };
}

/** What the listing of dbPrefix(dbId) can restore, by generation, read from names only. */
export function surveyRestorable(dbId: string, listing: readonly ListedObject[]): RestorableSurvey {
  const { gens, runs, ranges, newest } = surveyOf(dbId, listing);
  return {
    dbId,
    generations: gens.map((g) => ({
      genId: g.genId,
      bases: g.bases,
      segments: g.seqs.map((seq) => g.segments.get(seq)!),
      ranges: runs.get(g)!.map((r) => rangeOf(g.genId, r)),
    })),
    ranges,
    newest: newest.txid < 0 ? undefined : newest,
  };
}

/** The plan for `target` from a listing of dbPrefix(dbId); a time along `line` when given. */
export function planRestore(
  dbId: string,
  listing: readonly ListedObject[],
  target: PitrTarget,
  line?: Lineage,
): RestorePlan {
  checkTarget(target);
  const { gens, runs, ranges, newest } = surveyOf(dbId, listing);
  const unrestorable = (what: string): never => {
    throw new LifeboatError('PITR_TARGET_UNRESTORABLE', `${what}. ${describe(dbId, ranges)}`, {
      hint: ranges.length
        ? 'pick a point inside one of the restorable ranges (`txid:N` also reaches transactions captured late)'
        : 'check --db-id and the bucket and prefix: continuous backup of this database may not have run yet',
    });
  };
  if (ranges.length === 0) {
    unrestorable(
      listing.length === 0
        ? `no continuous backup of database ${dbId} is in the bucket`
        : `database ${dbId} has no base yet, so nothing of it is restorable`,
    );
  }
  const plan = (g: Generation, run: Run, needed: number): RestorePlan => ({
    dbId,
    genId: g.genId,
    target,
    base: run.base,
    segments: run.segments.slice(0, needed),
    more: run.segments.slice(needed),
    newest,
    ranges,
  });
  const newestFirst = [...gens].reverse().filter((g) => g.bases.length > 0);

  if (target.kind === 'latest') {
    // Along a line (a timeline named), the newest state of its head; else of the newest generation.
    const head = line && headOf(line);
    const g = newestFirst.find((x) => head === undefined || x.genId === head);
    if (!g) return unrestorable(`generation ${head}, the newest of the timeline asked for, has no base`);
    const best = runs.get(g)!.reduce((a, b) => (end(b).txid >= end(a).txid ? b : a));
    // Segments beyond a hole exist: the newest shipped state cannot be reached, and restoring
    // less than asked is never silent (the error names what txid:N can still reach).
    if (best.holeAt !== undefined) return refuse([g], runs, ranges, dbId, 'the latest state', () => true, unrestorable);
    return plan(g, best, best.segments.length);
  }

  if (target.kind === 'txid') {
    const n = target.txid;
    for (const g of newestFirst) {
      const holding = runs.get(g)!.filter((r) => r.base.txid <= n && n <= end(r).txid);
      if (holding.length === 0) continue;
      const run = holding[holding.length - 1]!;
      return plan(g, run, n === run.base.txid ? 0 : run.segments.findIndex((s) => s.lastTxid >= n) + 1);
    }
    if (n > newest.txid) unrestorable(`txid ${n} is after the newest shipped transaction, txid ${newest.txid}`);
    return refuse(gens, runs, ranges, dbId, `txid ${n}`, (r) => r.base.txid <= n, unrestorable);
  }

  const t = target.ms;
  const onLine = line ? gens.filter((g) => line.has(g.genId)) : gens;
  for (const g of [...onLine].reverse().filter((x) => x.bases.length > 0)) {
    const cut = line?.get(g.genId);
    const before = runs.get(g)!.filter((r) => r.base.ms <= t && (cut === undefined || r.base.txid <= cut));
    if (before.length === 0) continue;
    const run = cut === undefined ? before[before.length - 1]! : upTo(before[before.length - 1]!, cut);
    const after = run.segments.findIndex((s) => s.lastMs > t);
    if (after < 0 && cut !== undefined) {
      // At or after the branch point: the line's state until its child began is that point.
      if (end(run).txid < cut) break; // the chain ends before it (a hole): refused below
      return { ...plan(g, run, run.segments.length), stopAtTxid: cut };
    }
    if (after < 0) {
      // The run ends at or before t: its end is the state at t only if nothing came after it —
      // no segment beyond a hole, no newer generation (whose start may follow a gap).
      if (run.holeAt !== undefined) break;
      const newer = onLine.find((other) => other.genId > g.genId);
      if (newer) {
        unrestorable(
          `time ${iso(t)} lies between generation ${g.genId} (its last shipped transaction is txid ` +
            `${end(run).txid} at ${iso(end(run).ms)}) and generation ${newer.genId}, which starts later`,
        );
      }
    }
    const planned = plan(g, run, after < 0 ? run.segments.length : after + 1);
    return cut === undefined ? planned : { ...planned, stopAtTxid: cut };
  }
  return refuse(gens, runs, ranges, dbId, `time ${iso(t)}`, (r) => r.base.ms <= t, unrestorable);
}

/** A target no run holds: a hole in the generation that would hold it (PITR_CHAIN_GAP), or outside every range. */
function refuse(
  gens: readonly Generation[],
  runs: Map<Generation, Run[]>,
  ranges: readonly RestorableRange[],
  dbId: string,
  what: string,
  startsBefore: (r: Run) => boolean,
  unrestorable: (what: string) => never,
): never {
  for (const g of [...gens].reverse()) {
    const run = runs.get(g)!.filter(startsBefore).at(-1);
    if (run?.holeAt !== undefined) {
      throw new LifeboatError(
        'PITR_CHAIN_GAP',
        `${what} of database ${dbId} lies after a hole in generation ${g.genId}: segment seq ${run.holeAt} is ` +
          `missing (the chain from base ${run.base.name} ends at txid ${end(run).txid}). ${describe(dbId, ranges)}`,
        {
          hint:
            'Lifeboat never deletes a segment from the middle of a chain: check the bucket for deleted objects ' +
            '(versioning and Object Lock protect against this), or restore to a point inside a restorable range',
        },
      );
    }
  }
  return unrestorable(`${what} is outside what can be restored`);
}

/**
 * `r` up to the segment whose name reaches txid `cut`, and the one after it, where `cut` goes on
 * when it was split across the two (a name gives only its last txid); all of `r` when it ends before.
 */
function upTo(r: Run, cut: number): Run {
  const holding = r.segments.findIndex((s) => s.lastTxid >= cut);
  if (holding < 0 || holding + 2 >= r.segments.length) return r;
  return { ...r, segments: r.segments.slice(0, holding + 2), holeAt: undefined };
}

/** The contiguous segments after base `b`: from the lowest seq whose lastTxid is above b's txid. */
function runOf(g: Generation, b: PlannedBase): Run {
  const first = g.seqs.find((seq) => g.segments.get(seq)!.lastTxid > b.txid);
  const segments: PlannedSegment[] = [];
  if (first === undefined) return { base: b, segments, holeAt: undefined };
  let seq = first;
  while (g.segments.has(seq)) segments.push(g.segments.get(seq++)!);
  const last = g.seqs[g.seqs.length - 1]!;
  return { base: b, segments, holeAt: seq <= last ? seq : undefined };
}

function end(r: Run): { txid: number; ms: number } {
  const last = r.segments[r.segments.length - 1];
  return last ? { txid: last.lastTxid, ms: last.lastMs } : { txid: r.base.txid, ms: r.base.ms };
}

function rangeOf(genId: string, r: Run): RestorableRange {
  const e = end(r);
  return { genId, fromTxid: r.base.txid, fromMs: r.base.ms, toTxid: e.txid, toMs: e.ms };
}

/** Why `timeline` cannot go with `target` (undefined: it can): a txid names one transaction on whichever it is. */
export function timelineProblem(target: PitrTarget, timeline: number | undefined): string | undefined {
  if (timeline === undefined) return undefined;
  if (!Number.isSafeInteger(timeline) || timeline < 1) return `timeline ${timeline} is not a whole number from 1`;
  if (target.kind === 'txid') {
    return 'a txid names one transaction on whichever timeline it is: a timeline goes with latest and time: only';
  }
  return undefined;
}

function checkTarget(target: PitrTarget): void {
  if (target.kind === 'txid' && (!Number.isSafeInteger(target.txid) || target.txid < 0))
    throw new RangeError(`txid ${target.txid} is not a whole number`);
  if (target.kind === 'time' && !Number.isFinite(target.ms)) throw new RangeError(`time ${target.ms} is not a time`);
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** "restorable: txid 5 (time) … txid 90 (time) in generation …; …", merged per generation, at most 6. */
export function describe(dbId: string, ranges: readonly RestorableRange[]): string {
  if (ranges.length === 0) return `Database ${dbId} has nothing restorable.`;
  const merged = mergeRanges(ranges);
  const shown = merged.slice(-6).map((r) => {
    const span =
      r.fromTxid === r.toTxid
        ? `txid ${r.fromTxid} (${iso(r.fromMs)})`
        : `txid ${r.fromTxid} (${iso(r.fromMs)}) … txid ${r.toTxid} (${iso(r.toMs)})`;
    return `${span} in generation ${r.genId}`;
  });
  const older = merged.length > 6 ? ` (and ${merged.length - 6} older)` : '';
  return `Restorable${older}: ${shown.join('; ')}`;
}

/**
 * The ranges as reachable windows, by txid: runs of one generation overlap (a re-base inside a
 * run) and are merged; a hole or a new generation starts a new window.
 */
export function mergeRanges(ranges: readonly RestorableRange[]): RestorableRange[] {
  const merged: RestorableRange[] = [];
  for (const r of [...ranges].sort((a, b) => a.fromTxid - b.fromTxid)) {
    const last = merged[merged.length - 1];
    if (last && last.genId === r.genId && r.fromTxid <= last.toTxid + 1) {
      if (r.toTxid > last.toTxid) merged[merged.length - 1] = { ...last, toTxid: r.toTxid, toMs: r.toMs };
    } else merged.push(r);
  }
  return merged;
}
