import type { ListedObject } from '../../storage/object-store.js';
import type { SavedChain } from '../capture/state-file.js';
import { parsePitrName } from '../names.js';

/**
 * A bucket that ends before what this host's capture shipped (spec §3.6, §3.10 step 1): a prefix
 * of a valid chain is a valid chain, so a bucket whose newest segments were deleted (or rolled
 * back to an older version) restores without any check failing — to less than was shipped. The
 * capture on this host recorded in `state.json` where the bucket's chain ended when it last
 * heard; a restore here compares the listing with it.
 *
 * Not behind: no record, a record of another database, or a generation newer than the recorded
 * one in the bucket (another host went on after a restore; the record is stale, and retention
 * may have removed the old generation since).
 */

/** Why the listing of `dbId` ends before the chain `saved` records; undefined when it does not. */
export function bucketBehind(
  dbId: string,
  listing: readonly ListedObject[],
  saved: SavedChain | undefined,
): string | undefined {
  if (saved?.dbId !== dbId) return undefined;
  let newest = -1;
  let newer = false;
  for (const { key } of listing) {
    const name = parsePitrName(key);
    if (name?.kind !== 'segment' && name?.kind !== 'base') continue;
    if (name.genId > saved.genId) newer = true;
    if (name.genId !== saved.genId) continue;
    newest = Math.max(newest, name.kind === 'segment' ? name.lastTxid : name.txid);
  }
  if (newer || newest >= saved.txid) return undefined;
  return newest < 0
    ? `generation ${saved.genId}, which this host's capture shipped up to txid ${saved.txid}, is not in the bucket`
    : `the bucket holds generation ${saved.genId} up to txid ${newest}, but this host's capture shipped it up to ` +
        `txid ${saved.txid}`;
}
