import type { Readable } from 'node:stream';

/** One stored backup (a file in a folder, an object in a bucket). */
export interface StoredObject {
  /** The object/file name, e.g. `backup_node_1_1732415400.sqlite`. */
  readonly name: string;
  /** Size in bytes as stored (encrypted size for S3). */
  readonly size: number;
  /** Last-modified time reported by the store (informational; retention uses the name). */
  readonly modified?: Date;
}

export interface PutOptions {
  /** Called with the number of bytes consumed from `body` so far. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
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
 */
export interface BackupStore {
  /** Human description for logs and errors, never containing secrets. */
  readonly description: string;
  list(): Promise<StoredObject[]>;
  put(name: string, body: Readable, options?: PutOptions): Promise<StoredObject>;
  get(name: string): Promise<Readable>;
  delete(name: string): Promise<void>;
}
