import type { Readable } from 'node:stream';
import type { RangeSource } from './store.js';

/**
 * What continuous backup needs of a bucket. The snapshot BackupStore does not fit: it lists
 * only names directly under the prefix and knows no ETags, while continuous mode lives under
 * `{prefix}lifeboat-pitr/…` and fences its one writer with conditional writes (P7, §3.7 of
 * the design). Keys are relative to the store's configured prefix. Every method rejects with
 * a LifeboatError (ABORTED when `signal` aborts, S3_TIMEOUT past the store's `s3_timeout`,
 * BAD_NAME for a key that would not list back as itself); a refused condition is an outcome,
 * not an error, so that no caller can mistake a lost race for a transport failure.
 */

/** How `If-Match` carries an ETag: quoted as S3 returns it (AWS, R2, MinIO), or bare (Ceph RGW). */
export type EtagForm = 'quoted' | 'bare';

/** An object's entity tag, without the quotes S3 puts around it; opaque otherwise. */
export type Etag = string;

export interface RequestOptions {
  readonly signal?: AbortSignal | undefined;
}

export interface ListedObject {
  readonly key: string;
  readonly size: number;
  /** When the store says the object was written (its clock), if it says. */
  readonly modified?: Date;
}

/**
 * `exists`: an object already has the key (412 on `If-None-Match: *`). After a retried request
 * it may be this writer's own earlier attempt whose answer was lost: compare the content.
 * `conflict`: a concurrent conditional write to the key (409 ConditionalRequestConflict, AWS):
 * nothing was written; read again and retry.
 */
export type CreateOutcome =
  | { readonly kind: 'written'; readonly etag: Etag }
  | { readonly kind: 'exists' }
  | { readonly kind: 'conflict' };

/**
 * `changed`: the object no longer has that ETag (412) or is gone (404 on AWS; RGW answers 412
 * for both): another writer, or a rolled-back bucket; after a retried request possibly this
 * writer's own earlier attempt. `conflict` as for CreateOutcome.
 */
export type ReplaceOutcome =
  | { readonly kind: 'written'; readonly etag: Etag }
  | { readonly kind: 'changed'; readonly status: 404 | 412 }
  | { readonly kind: 'conflict' };

export interface PitrObjectStore {
  /** Names the bucket and prefix for messages; never a secret. */
  readonly description: string;
  /** The form putIfMatch sends; the capability probe (src/pitr/probe.ts) sets the one the store accepts. */
  etagForm: EtagForm;
  /** The object's bytes and ETag, or undefined when no object has the key. */
  get(key: string, options?: RequestOptions): Promise<{ readonly body: Buffer; readonly etag: Etag } | undefined>;
  /**
   * The object's bytes as a stream, or undefined when no object has the key: for objects too
   * large to hold in memory (bases). The answer's headers come within the store's deadline;
   * the body then streams as long as it moves, and its failures arrive as LifeboatErrors too.
   */
  getStream(key: string, options?: RequestOptions): Promise<Readable | undefined>;
  /**
   * Writes a large object from `source`, multipart when it is larger than one part, each part
   * retried by opening its range again. Unconditional: S3 stores (Ceph RGW 16) ignore
   * `If-None-Match` on CompleteMultipartUpload, so this is only for keys no other writer can
   * produce — bases, under a key unique to their generation (P7). Nothing is left behind on
   * failure (the multipart upload is aborted).
   */
  putStream(key: string, source: RangeSource, options?: RequestOptions): Promise<void>;
  /** Creates the object only if no object has the key (`If-None-Match: *`); one request, never multipart. */
  putIfAbsent(key: string, body: Buffer, options?: RequestOptions): Promise<CreateOutcome>;
  /** Replaces the object only if its ETag is still `etag` (`If-Match`, in `options.etagForm ?? etagForm`). */
  putIfMatch(
    key: string,
    body: Buffer,
    etag: Etag,
    options?: RequestOptions & { readonly etagForm?: EtagForm },
  ): Promise<ReplaceOutcome>;
  /** Every object whose key starts with `prefix`, in the store's (byte-wise ascending) key order. */
  list(prefix: string, options?: RequestOptions): Promise<ListedObject[]>;
  /** Removes the object; a missing key is fine. Unconditional: no store is relied on to honour If-Match here. */
  delete(key: string, options?: RequestOptions): Promise<void>;
  /** Removes all of `keys` (missing ones are fine), in requests of at most 1,000 keys. */
  deleteMany(keys: readonly string[], options?: RequestOptions): Promise<void>;
  /** The server's clock now (unix ms; ±1 s, the HTTP Date header's resolution) from its latest answer, if any. */
  serverTime(): number | undefined;
}

/**
 * `putIfAbsent` for a body no other writer can produce (sealed under a random nonce, or under a
 * fresh random key): an `exists` whose object holds exactly `body` is this writer's own earlier
 * attempt, whose answer was lost and whose retry the store refused, so it is `written`, with the
 * ETag read back. Anything else is returned as the store answered.
 */
export async function createOwn(
  store: PitrObjectStore,
  key: string,
  body: Buffer,
  options?: RequestOptions,
): Promise<CreateOutcome> {
  const made = await store.putIfAbsent(key, body, options);
  if (made.kind !== 'exists') return made;
  return (await ownWrite(store, key, body, options)) ?? made;
}

/**
 * `putIfMatch` for a body no other writer can produce: a `changed` whose object now holds exactly
 * `body` is this writer's own replace, applied by an attempt whose answer was lost (its retry
 * then found the ETag it had itself replaced). Without this, a dropped connection at the wrong
 * moment would read as another writer taking the object.
 */
export async function replaceOwn(
  store: PitrObjectStore,
  key: string,
  body: Buffer,
  etag: Etag,
  options?: RequestOptions & { readonly etagForm?: EtagForm },
): Promise<ReplaceOutcome> {
  const done = await store.putIfMatch(key, body, etag, options);
  if (done.kind !== 'changed') return done;
  return (await ownWrite(store, key, body, options)) ?? done;
}

async function ownWrite(
  store: PitrObjectStore,
  key: string,
  body: Buffer,
  options?: RequestOptions,
): Promise<{ readonly kind: 'written'; readonly etag: Etag } | undefined> {
  const there = await store.get(key, options);
  return there?.body.equals(body) ? { kind: 'written', etag: there.etag } : undefined;
}
