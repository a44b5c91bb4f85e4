import { Readable } from 'node:stream';

/** One stored backup (a file in a folder, an object in a bucket). */
export interface StoredObject {
  /** The object/file name, e.g. `backup_node_1_1732415400.sqlite`. */
  readonly name: string;
  /** Size in bytes as stored (encrypted size for S3). */
  readonly size: number;
  /** Last-modified time reported by the store (informational; retention uses the name). */
  readonly modified?: Date;
}

/**
 * Bytes that can be read again from any offset, e.g. a file encrypted on the fly. A store
 * may then send pieces in parallel and retry one by reading it again, instead of holding
 * pieces in memory until they are acknowledged. The bytes must be the same every time.
 */
export interface RangeSource {
  readonly size: number;
  /** Bytes [start, end) as a new stream; called any number of times, also concurrently. */
  open(start: number, end: number): Readable;
}

/** What `put` stores: a one-pass stream, or a source it may read in pieces and again. */
export type PutBody = Readable | RangeSource;

export function isRangeSource(body: PutBody): body is RangeSource {
  return !(body instanceof Readable) && typeof (body as RangeSource).open === 'function';
}

export interface PutOptions {
  /** Called with the number of bytes of the object sent so far (it may go back on a retry). */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
  /**
   * Awaited after every byte has been transferred and before the object becomes visible
   * under its name (rename, CompleteMultipartUpload). If it rejects, nothing is stored and
   * put rejects with its error. Lets a caller send bytes while it still verifies them.
   */
  beforeCommit?: () => Promise<void>;
}

/**
 * The one narrow interface every place that holds backups implements. Backup,
 * retention and restore logic only talk to this; a new backend is one file.
 *
 * Contract:
 * - `put` is all-or-nothing: after a failure no object/file of that name is left
 *   half-written (a previous complete one with the same name may remain).
 * - `get` rejects with a LifeboatError code `NOT_FOUND` when the name does not exist.
 * - `delete` of a missing name is not an error.
 * - `put` honours `beforeCommit`: no object of that name appears before it resolves.
 */
export interface BackupStore {
  /** Human description for logs and errors, never containing secrets. */
  readonly description: string;
  list(): Promise<StoredObject[]>;
  put(name: string, body: PutBody, options?: PutOptions): Promise<StoredObject>;
  get(name: string): Promise<Readable>;
  delete(name: string): Promise<void>;
}
