import type { Readable } from 'node:stream';

/** One stored object (a file in a folder, an object in a bucket). */
export interface StoredObject {
  /** The object/file name, e.g. `backup_node_1_1732415400.sqlite`. */
  readonly name: string;
  /** Size in bytes as stored (the encrypted size for a remote backup). */
  readonly size: number;
  /** Last-modified time reported by the store (informational; retention uses the name). */
  readonly modified?: Date;
  /** The metadata staged with it, where the store keeps metadata (from `stat` only). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Bytes [start, end) of an object. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * Bytes that can be read again from any offset, e.g. a file encrypted on the fly. A store
 * sends pieces in parallel and retries one by reading it again, instead of holding pieces in
 * memory until they are acknowledged. The bytes must be the same every time.
 */
export interface RangeSource {
  readonly size: number;
  /** Bytes [start, end) as a new stream; called any number of times, also concurrently. */
  open(start: number, end: number): Readable;
}

export interface StageOptions {
  /** Bytes of the object transferred so far (it may go back when a piece is sent again). */
  readonly onProgress?: (bytes: number) => void;
  /** Stops the transfer as `abort()` does; `commit()` then rejects with ABORTED. */
  readonly signal?: AbortSignal;
  /** Small key/value facts stored with the object where the store can (S3 user metadata); others ignore them. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * An object being written: its bytes travel from the moment it is staged, but no object of
 * that name appears (and none is replaced) before `commit()`. Exactly one of `commit()` or
 * `abort()` ends it; a transfer that fails cleans up after itself, and `commit()` then rejects
 * with that failure.
 */
export interface StagedObject {
  /** Waits for every byte, then makes the object visible under its name (replacing one there). */
  commit(): Promise<StoredObject>;
  /** Stops the transfer and removes what was staged. Idempotent; resolves also after a failure. */
  abort(): Promise<void>;
}

/**
 * The one narrow interface every place that holds backups implements (a local folder, an S3
 * bucket, a user's own). Backup, retention and restore logic only talk to this.
 *
 * Errors are LifeboatErrors: NOT_FOUND for a missing name, EXISTS from `create`, BAD_NAME for
 * a name that would not list back as itself; the rest name the store and what to check.
 */
export interface BackupStore {
  /** Human description for logs and errors, never containing secrets. */
  readonly description: string;
  /** The objects directly in the store (not in "folders" below it, not dot names: bookkeeping), sorted by name. */
  list(): Promise<StoredObject[]>;
  /** One object's size and time, or undefined when there is none of that name. */
  stat(name: string): Promise<StoredObject | undefined>;
  /** An object's bytes, whole or one range; NOT_FOUND when it does not exist. */
  get(name: string, range?: ByteRange): Promise<Readable>;
  /** Starts writing an object from a re-readable source; see StagedObject. */
  stage(name: string, source: RangeSource, options?: StageOptions): StagedObject;
  /**
   * Writes a small object only if no object of that name exists, atomically (S3:
   * `If-None-Match: *`), else EXISTS. A retried request whose first attempt landed also ends
   * in EXISTS: a caller that must know compares the content.
   */
  create(name: string, body: Buffer): Promise<StoredObject>;
  /** Removes an object; a missing name is not an error. */
  delete(name: string): Promise<void>;
  /**
   * Removes what interrupted writes left behind — temp files of a folder, unfinished multipart
   * uploads of a bucket — that began before `olderThan` and would have been named as `isOwn`
   * accepts (default: any name); returns those names. Only the caller knows when nothing
   * can be writing any more: pass a time well before any write in progress. Optional: a store
   * without leftovers need not have it.
   */
  removeLeftovers?(olderThan: Date, isOwn?: (name: string) => boolean): Promise<string[]>;
}

/** Stages and commits in one go; an error aborts what was staged. */
export async function storeObject(
  store: BackupStore,
  name: string,
  source: RangeSource,
  options: StageOptions = {},
): Promise<StoredObject> {
  const staged = store.stage(name, source, options);
  try {
    return await staged.commit();
  } catch (err) {
    await staged.abort();
    throw err;
  }
}
