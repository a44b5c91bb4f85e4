import { FUTURE_TOLERANCE_MS, MAX_CLOCK_OFFSET_MS } from '../backup/retention.js';
import type { ListedObject } from '../storage/object-store.js';
import { genIdTime, parsePitrName } from './names.js';

/**
 * What continuous backup's retention deletes (spec §3.8), decided without I/O: every generation
 * but the current one whose newest object is older than the window; inside the current one, the
 * bases before the newest one taken before the window, and the segments before the one it
 * follows. Names carry capture's clock when they were written, and a clock that is wrong — this
 * machine's now, or the one that wrote an object — must never cost history (as for snapshots,
 * backup/retention.ts):
 *
 * - nothing is deleted while this machine's clock and the S3 server's disagree by more than
 *   MAX_CLOCK_OFFSET_MS (a clock that jumped ahead would expire every generation but one);
 * - an object's time is the later of its name's and the store's modified time, so a generation
 *   written while the clock was behind is judged by when it really reached the bucket (a bucket
 *   copied elsewhere looks new and is kept a window longer: the safe way to be wrong);
 * - an object named in the future is reported; its generation is never older than the window.
 */

export interface PitrRetentionInput {
  /** Every object under the database's prefix (store.list of dbPrefix). */
  readonly objects: readonly ListedObject[];
  /** The generation capture is writing: never deleted. */
  readonly currentGenId: string;
  readonly nowMs: number;
  readonly windowMs: number;
  /** The S3 server's clock minus this machine's, when known. */
  readonly clockOffsetMs?: number | undefined;
}

export interface PitrRetentionDecision {
  /** Generations older than the window, with every object key of each. */
  readonly expired: ReadonlyArray<{ readonly genId: string; readonly keys: readonly string[] }>;
  /** Keys of the current generation that only restore points older than the window. */
  readonly superseded: readonly string[];
  /** The txid of the current generation's oldest base that stays, when older ones go. */
  readonly keptBaseTxid?: number;
  /** The restores' hold objects of the database (read and judged by the caller). */
  readonly holdKeys: readonly string[];
  /** Why nothing may be deleted this time (a clock that cannot be trusted). */
  readonly skipped?: string;
  /** Objects whose name is later than now: written by a clock that was ahead. */
  readonly future: readonly string[];
}

export function decidePitrRetention(input: PitrRetentionInput): PitrRetentionDecision {
  const { nowMs, windowMs, currentGenId } = input;
  const generations = new Map<string, { keys: string[]; newestMs: number }>();
  const bases: Array<{ key: string; txid: number; ms: number }> = [];
  const segments: Array<{ key: string; lastTxid: number }> = [];
  const holdKeys: string[] = [];
  const future: string[] = [];
  for (const o of input.objects) {
    const name = parsePitrName(o.key);
    if (name?.kind === 'hold') holdKeys.push(o.key);
    if (!name || !('genId' in name)) continue;
    const namedMs = name.kind === 'base' ? name.ms : name.kind === 'segment' ? name.lastMs : genIdTime(name.genId);
    if (namedMs > nowMs + FUTURE_TOLERANCE_MS) future.push(o.key);
    const ms = Math.max(namedMs, o.modified?.getTime() ?? Number.NEGATIVE_INFINITY);
    if (name.genId === currentGenId) {
      if (name.kind === 'base') bases.push({ key: o.key, txid: name.txid, ms });
      if (name.kind === 'segment') segments.push({ key: o.key, lastTxid: name.lastTxid });
      continue;
    }
    const g = generations.get(name.genId) ?? { keys: [], newestMs: genIdTime(name.genId) };
    g.keys.push(o.key);
    g.newestMs = Math.max(g.newestMs, ms);
    generations.set(name.genId, g);
  }
  const offset = input.clockOffsetMs;
  if (offset !== undefined && Math.abs(offset) > MAX_CLOCK_OFFSET_MS) {
    const direction = offset < 0 ? 'ahead of' : 'behind';
    return {
      expired: [],
      superseded: [],
      holdKeys,
      future,
      skipped:
        `this machine's clock is ${Math.round(Math.abs(offset) / 60_000)} min ${direction} the S3 server's, so ` +
        "the ages of the database's objects cannot be judged: nothing is deleted until the clocks agree; fix the " +
        'clock (NTP)',
    };
  }
  const horizon = nowMs - windowMs;
  const expired = [...generations]
    .filter(([, g]) => g.newestMs < horizon)
    .map(([genId, g]) => ({ genId, keys: g.keys }));
  // The newest base of the current generation taken before the horizon restores every point after it.
  const keep = bases.filter((b) => b.ms <= horizon).sort((a, b) => b.txid - a.txid)[0];
  const superseded = keep
    ? [
        ...bases.filter((b) => b.txid < keep.txid).map((b) => b.key),
        // The segment the kept base follows stays: `pitr list` sees the seqs before it were removed, not lost.
        ...segments.filter((s) => s.lastTxid < keep.txid).map((s) => s.key),
      ]
    : [];
  return { expired, superseded, ...(keep ? { keptBaseTxid: keep.txid } : {}), holdKeys, future };
}

/**
 * The decision's keys in two requests: everything that restores first, the generations' metas
 * last. A death between them (`during-retention`) leaves an expired generation as its meta
 * alone — it restores nothing, a restore of it says so — and the next look deletes the meta.
 */
export function deletionBatches(d: PitrRetentionDecision): readonly [restoring: string[], metas: string[]] {
  const keys = [...d.expired.flatMap((g) => g.keys), ...d.superseded];
  const isMeta = (key: string) => parsePitrName(key)?.kind === 'meta';
  return [keys.filter((k) => !isMeta(k)), keys.filter(isMeta)];
}
