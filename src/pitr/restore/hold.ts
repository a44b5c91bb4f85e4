import type { Logger } from '../../log.js';
import { createOwn, type PitrObjectStore } from '../../storage/object-store.js';
import { holdName, newRandomId, parsePitrName } from '../names.js';

/**
 * A restore's hold (spec §3.8): `lifeboat-pitr/<dbId>/holds/<restoreId>`, plaintext JSON
 * `{"expiresMs"}`, created with If-None-Match like every PITR object (P7). While one is in force,
 * the writer's retention deletes nothing of that database, so a restore near the window's edge
 * never loses its base or a segment half way. It is renewed every third of its lifetime — a new
 * hold, then the old one deleted (objects are write-once) — and deleted when the restore ends; one
 * left by a restore that died expires on its own and retention removes it. Times are the bucket's
 * clock (the Date of its latest answer) where known, on both sides, so hosts' clocks do not matter.
 *
 * A restore that cannot place a hold (credentials that may only read, a store refusing the write)
 * goes on and says so: restoring matters more than protecting the restore from retention.
 */

/** How long a hold lasts unless renewed. */
export const HOLD_TTL_MS = 15 * 60_000;

export interface PlaceHoldOptions {
  readonly log?: Logger | undefined;
  /** Lifetime of each hold (default HOLD_TTL_MS); renewed every third of it. */
  readonly ttlMs?: number;
  /** This host's clock, used when the store has not answered yet (default Date.now). */
  readonly now?: () => number;
}

export interface Hold {
  /** The hold's object now, or undefined when none could be placed. */
  readonly key: string | undefined;
  /** Places a new hold and deletes the one before (the timer does this every third of the lifetime). */
  renew(): Promise<void>;
  /** Stops renewing and deletes the hold. Never throws: a hold left behind expires. */
  release(): Promise<void>;
}

/** Places a hold on database `dbId`; never throws (see above). */
export async function placeHold(store: PitrObjectStore, dbId: string, options: PlaceHoldOptions = {}): Promise<Hold> {
  const ttlMs = options.ttlMs ?? HOLD_TTL_MS;
  const clock = () => store.serverTime() ?? (options.now ?? Date.now)();
  let key: string | undefined;
  let released = false;

  const place = async (): Promise<string | undefined> => {
    const next = holdName(dbId, newRandomId());
    const body = Buffer.from(JSON.stringify({ expiresMs: clock() + ttlMs }));
    try {
      const outcome = await createOwn(store, next, body);
      // A fresh random name exists only as this attempt's own; anything else is not a hold in force.
      if (outcome.kind !== 'written') throw new Error(`the store answered ${outcome.kind}`);
      return next;
    } catch (err) {
      options.log?.warn(
        { err, key: next },
        'continuous backup: could not place a hold for this restore; it goes on, but retention in the ' +
          "database's writer could delete objects it still needs (a restore near the window's edge)",
      );
      return undefined;
    }
  };
  const remove = async (old: string | undefined) => {
    if (!old) return;
    await store.delete(old).catch((err: unknown) => {
      options.log?.warn({ err, key: old }, 'continuous backup: could not delete a restore hold; it expires by itself');
    });
  };

  key = await place();
  const hold: Hold = {
    get key() {
      return key;
    },
    async renew() {
      if (released) return;
      const old = key;
      key = (await place()) ?? old;
      if (key !== old) await remove(old);
    },
    async release() {
      released = true;
      clearInterval(timer);
      await remove(key);
      key = undefined;
    },
  };
  const timer = setInterval(() => void hold.renew(), Math.max(1_000, ttlMs / 3));
  timer.unref();
  return hold;
}

export interface HoldsSeen {
  /** Holds still in force, with when each ends. */
  readonly inForce: ReadonlyArray<{ readonly key: string; readonly expiresMs: number }>;
  /** Holds that ran out (their restore ended without deleting them): retention removes them. */
  readonly expired: readonly string[];
}

/**
 * Reads the holds among `keys` (a LIST of a database's prefix) at `nowMs`, one GET each. A hold
 * that does not parse is counted in force — deleting is what cannot be undone — and logged with
 * its key, so an operator can remove it.
 */
export async function readHolds(
  store: PitrObjectStore,
  keys: readonly string[],
  nowMs: number,
  log?: Logger,
): Promise<HoldsSeen> {
  const inForce: Array<{ key: string; expiresMs: number }> = [];
  const expired: string[] = [];
  for (const key of keys) {
    if (parsePitrName(key)?.kind !== 'hold') continue;
    const got = await store.get(key);
    if (!got) continue; // its restore ended meanwhile
    let expiresMs = Number.POSITIVE_INFINITY;
    try {
      const value: unknown = (JSON.parse(got.body.toString('utf8')) as { expiresMs?: unknown }).expiresMs;
      if (typeof value === 'number' && Number.isFinite(value)) expiresMs = value;
    } catch {
      // not JSON: in force (below)
    }
    if (expiresMs === Number.POSITIVE_INFINITY) {
      log?.warn({ key }, 'continuous backup: a restore hold does not parse; retention waits until it is deleted');
    }
    if (expiresMs > nowMs) inForce.push({ key, expiresMs });
    else expired.push(key);
  }
  return { inForce, expired };
}
