import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { S3Config } from '../../src/config/types.js';
import { createKeySet } from '../../src/crypto/keys.js';
import { LocalStore } from '../../src/storage/local.js';
import { S3Store } from '../../src/storage/s3/store.js';
import type { BackupStore, RangeSource } from '../../src/storage/store.js';

/** Where a measured run sends its backup: a local folder, or the local S3 server with given part settings. */
export type StoreSpec =
  | { readonly kind: 'local'; readonly dir: string }
  | { readonly kind: 's3'; readonly s3: S3Config; readonly partMiB?: number; readonly queue?: number };

/** The benchmark's fixed key (never a real one). */
export const BENCH_KEYS = createKeySet([{ id: 'bench', key: Buffer.alloc(32, 7) }], 'bench');

export function openStore(spec: StoreSpec): BackupStore {
  if (spec.kind === 'local') return new LocalStore(spec.dir);
  return new S3Store(spec.s3, {
    ...(spec.partMiB ? { partSizeBytes: spec.partMiB * 1024 * 1024 } : {}),
    ...(spec.queue ? { queueSize: spec.queue } : {}),
  });
}

/** A file's plain bytes as a RangeSource: the fastest way this client can send them (parts streamed, none buffered). */
export function fileRangeSource(path: string): RangeSource {
  const size = statSync(path).size;
  return {
    size,
    open: (start, end) =>
      end > start ? createReadStream(path, { start, end: end - 1, highWaterMark: 1 << 20 }) : Readable.from([]),
  };
}
