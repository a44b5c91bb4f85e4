import { PassThrough, Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { S3Config } from '../../config/types.js';
import { LifeboatError } from '../../errors.js';
import type {
  CreateOutcome,
  Etag,
  EtagForm,
  ListedObject,
  PitrObjectStore,
  ReplaceOutcome,
  RequestOptions,
} from '../object-store.js';
import type { RangeSource } from '../store.js';
import { withDeadline } from './deadline.js';
import { classifyS3Error, errorFacts, isPreconditionFailed } from './errors.js';
import { createS3Client, type S3StoreOptions, s3ClientConfig, s3TimeoutMs } from './store.js';
import { bareEtag, SourceFailed, stageUpload, UploadStopped } from './upload.js';

const MiB = 1024 * 1024;
/** DeleteObjects takes at most this many keys per request (an S3 rule). */
const DELETE_BATCH = 1000;
/**
 * A PUT's body travels inside the deadline of a control request; a body this large gets one
 * more `s3_timeout`, so a 16 MiB segment may take 4 of them (≥ 140 KB/s at the default 30 s).
 */
const BYTES_PER_TIMEOUT = 4 * MiB;

export interface S3ConditionalStoreOptions extends S3StoreOptions {
  /** The local wall clock in unix ms, for serverTime(); default Date.now. */
  readonly now?: () => number;
  /** Keys per ListObjectsV2 page (MaxKeys); default the server's, 1,000 on S3. */
  readonly listPageSize?: number;
}

/**
 * The bucket of continuous backup over S3: conditional writes are single-request PUTs with
 * `If-None-Match: *` or `If-Match`, never multipart (Ceph RGW 16 ignores `If-None-Match` on
 * CompleteMultipartUpload); only putStream, which is unconditional (bases), goes multipart,
 * through the snapshots' upload machinery (upload.ts). Same client configuration, timeouts and
 * error mapping as S3Store.
 */
export class S3ConditionalStore implements PitrObjectStore {
  readonly description: string;
  etagForm: EtagForm = 'quoted';
  readonly #config: S3Config;
  /** The SDK client; it carries the credentials and stays inside this class. */
  readonly #client: S3Client;
  /** For putStream's parts: one attempt per request, upload.ts retries (the SDK cannot rewind a stream). */
  readonly #dataClient: S3Client;
  readonly #partSize: number;
  readonly #queueSize: number;
  readonly #maxAttempts: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #pageSize: number | undefined;
  /** Aborted by close(): every request in flight ends at once. */
  readonly #closing = new AbortController();
  /** The Date header of the latest answer (server ms) and when it arrived (local ms). */
  #lastDate: { readonly serverMs: number; readonly localMs: number } | undefined;

  constructor(config: S3Config, options: S3ConditionalStoreOptions = {}) {
    this.#config = config;
    const prefix = config.prefix ? ` (prefix "${config.prefix}")` : '';
    this.description = `s3 bucket "${config.bucket}" at ${config.url}${prefix}`;
    this.#timeoutMs = s3TimeoutMs(options);
    this.#now = options.now ?? Date.now;
    this.#pageSize = options.listPageSize;
    this.#client = createS3Client(config, options);
    this.#partSize = options.partSizeBytes ?? 16 * MiB;
    this.#queueSize = options.queueSize ?? 4;
    this.#maxAttempts = options.maxAttempts ?? 5;
    // As S3Store's data client: without flexible checksums, which a streamed body would send
    // as aws-chunked trailers that Ceph RGW 16 refuses (411); the SDK's warnings about
    // non-retryable streams are upload.ts's business, so they are dropped.
    const quiet = () => undefined;
    this.#dataClient = new S3Client({
      ...s3ClientConfig(config, options, 1, options.idleTimeoutMs ?? this.#timeoutMs + 1000),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      logger: { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet },
    });
    // Inside the deserializer, so error answers (a 412) are seen too, and each retry's answer.
    this.#client.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        const date = (out.response as { headers?: Record<string, string> } | undefined)?.headers?.date;
        const serverMs = date ? Date.parse(date) : Number.NaN;
        if (Number.isFinite(serverMs)) this.#lastDate = { serverMs, localMs: this.#now() };
        return out;
      },
      { step: 'deserialize', priority: 'low', name: 'lifeboatServerDate' },
    );
  }

  async get(key: string, options: RequestOptions = {}): Promise<{ body: Buffer; etag: Etag } | undefined> {
    const Key = this.#key(key);
    try {
      return await this.#deadline(options.signal, 1, async (abortSignal) => {
        const out = await this.#client.send(new GetObjectCommand({ Bucket: this.#config.bucket, Key }), {
          abortSignal,
        });
        // A stalled body must free its connection when the deadline passes.
        abortSignal.addEventListener('abort', () => (out.Body as Readable | undefined)?.destroy?.(), { once: true });
        const body = Buffer.from((await out.Body?.transformToByteArray()) ?? []);
        return { body, etag: this.#etagOf(out.ETag, 'GetObject', key) };
      });
    } catch (err) {
      if (isNoSuchKey(err)) return undefined;
      throw classifyS3Error(err, this.#config, `download of ${key}`);
    }
  }

  async getStream(key: string, options: RequestOptions = {}): Promise<Readable | undefined> {
    const Key = this.#key(key);
    const what = `download of ${key}`;
    // The deadline covers the answer's headers; the body then streams as long as it moves
    // (the connection's idle timeout ends a stalled one), as S3Store.get does.
    let res: GetObjectCommandOutput;
    try {
      res = await this.#deadline(options.signal, 1, (abortSignal) =>
        this.#client.send(new GetObjectCommand({ Bucket: this.#config.bucket, Key }), { abortSignal }),
      );
    } catch (err) {
      if (isNoSuchKey(err)) return undefined;
      throw classifyS3Error(err, this.#config, what);
    }
    const body = res.Body;
    if (!(body instanceof Readable))
      throw new LifeboatError('S3_ERROR', `the ${what} from ${this.description} returned no body stream`);
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    body.on('error', (err) => out.destroy(classifyS3Error(err, this.#config, what)));
    // A reader that gives up early must free the connection.
    out.on('close', () => body.destroy());
    const stop = options.signal ? AbortSignal.any([this.#closing.signal, options.signal]) : this.#closing.signal;
    const onStop = () =>
      out.destroy(new LifeboatError('ABORTED', `S3 ${what} was interrupted`, { cause: options.signal?.reason }));
    if (stop.aborted) onStop();
    else stop.addEventListener('abort', onStop, { once: true });
    out.on('close', () => stop.removeEventListener('abort', onStop));
    body.pipe(out);
    return out;
  }

  async putStream(key: string, source: RangeSource, options: RequestOptions = {}): Promise<void> {
    const Key = this.#key(key);
    const what = `upload of ${key}`;
    const upload = stageUpload({
      dataClient: this.#dataClient,
      controlClient: this.#client,
      bucket: this.#config.bucket,
      key: Key,
      source,
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      maxAttempts: this.#maxAttempts,
      control: (_step, call, scale) => this.#deadline(undefined, scale ?? 1, call),
      stallMs: this.#timeoutMs,
      signal: options.signal,
    });
    try {
      await upload.commit();
    } catch (err) {
      await upload.abort();
      if (err instanceof SourceFailed) throw err.reason;
      if (err instanceof UploadStopped) {
        throw new LifeboatError('ABORTED', `${what} to ${this.description} was interrupted; nothing was stored`, {
          cause: err.reason,
        });
      }
      throw classifyS3Error(err, this.#config, what);
    }
  }

  async putIfAbsent(key: string, body: Buffer, options: RequestOptions = {}): Promise<CreateOutcome> {
    const Key = this.#key(key);
    try {
      const out = await this.#deadline(options.signal, scaleFor(body), (abortSignal) =>
        this.#client.send(new PutObjectCommand({ Bucket: this.#config.bucket, Key, Body: body, IfNoneMatch: '*' }), {
          abortSignal,
        }),
      );
      return { kind: 'written', etag: this.#etagOf(out.ETag, 'PutObject', key) };
    } catch (err) {
      if (isPreconditionFailed(err)) return { kind: 'exists' };
      if (errorFacts(err).status === 409) return { kind: 'conflict' };
      throw classifyS3Error(err, this.#config, `conditional create (If-None-Match) of ${key}`);
    }
  }

  async putIfMatch(
    key: string,
    body: Buffer,
    etag: Etag,
    options: RequestOptions & { readonly etagForm?: EtagForm } = {},
  ): Promise<ReplaceOutcome> {
    const Key = this.#key(key);
    const IfMatch = (options.etagForm ?? this.etagForm) === 'quoted' ? `"${etag}"` : etag;
    try {
      const out = await this.#deadline(options.signal, scaleFor(body), (abortSignal) =>
        this.#client.send(new PutObjectCommand({ Bucket: this.#config.bucket, Key, Body: body, IfMatch }), {
          abortSignal,
        }),
      );
      return { kind: 'written', etag: this.#etagOf(out.ETag, 'PutObject', key) };
    } catch (err) {
      if (isPreconditionFailed(err)) return { kind: 'changed', status: 412 };
      if (isNoSuchKey(err)) return { kind: 'changed', status: 404 };
      if (errorFacts(err).status === 409) return { kind: 'conflict' };
      throw classifyS3Error(err, this.#config, `conditional replace (If-Match) of ${key}`);
    }
  }

  async list(prefix: string, options: RequestOptions = {}): Promise<ListedObject[]> {
    const base = this.#config.prefix;
    const out: ListedObject[] = [];
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.#deadline(options.signal, 1, (abortSignal) =>
          this.#client.send(
            new ListObjectsV2Command({
              Bucket: this.#config.bucket,
              Prefix: `${base}${prefix}` || undefined,
              ContinuationToken: token,
              MaxKeys: this.#pageSize,
            }),
            { abortSignal },
          ),
        );
      } catch (err) {
        throw classifyS3Error(err, this.#config, `listing of ${prefix || 'the prefix'}`);
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key?.startsWith(base)) continue;
        out.push({
          key: o.Key.slice(base.length),
          size: o.Size ?? 0,
          ...(o.LastModified ? { modified: o.LastModified } : {}),
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async delete(key: string, options: RequestOptions = {}): Promise<void> {
    const Key = this.#key(key);
    try {
      await this.#deadline(options.signal, 1, (abortSignal) =>
        this.#client.send(new DeleteObjectCommand({ Bucket: this.#config.bucket, Key }), { abortSignal }),
      );
    } catch (err) {
      if (isNoSuchKey(err)) return;
      throw classifyS3Error(err, this.#config, `delete of ${key}`);
    }
  }

  async deleteMany(keys: readonly string[], options: RequestOptions = {}): Promise<void> {
    const objects = keys.map((key) => ({ Key: this.#key(key) }));
    for (let i = 0; i < objects.length; i += DELETE_BATCH) {
      const batch = objects.slice(i, i + DELETE_BATCH);
      const what = `delete of ${batch.length} objects (${keys[i]} …)`;
      let errors: Array<{ Key?: string | undefined; Code?: string | undefined }>;
      try {
        const out = await this.#deadline(options.signal, 1, (abortSignal) =>
          this.#client.send(
            new DeleteObjectsCommand({ Bucket: this.#config.bucket, Delete: { Objects: batch, Quiet: true } }),
            { abortSignal },
          ),
        );
        errors = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      } catch (err) {
        throw classifyS3Error(err, this.#config, what);
      }
      if (errors.length > 0) {
        const base = this.#config.prefix;
        const named = errors
          .slice(0, 3)
          .map((e) => `${e.Key?.startsWith(base) ? e.Key.slice(base.length) : e.Key} (${e.Code})`);
        throw new LifeboatError(
          'S3_ERROR',
          `S3 ${what} at ${this.#config.url}, bucket "${this.#config.bucket}": ${errors.length} not deleted, ` +
            `e.g. ${named.join(', ')}`,
          { hint: 'check that the credentials may delete objects in this bucket; see the S3 server logs' },
        );
      }
    }
  }

  serverTime(): number | undefined {
    const last = this.#lastDate;
    return last ? last.serverMs + (this.#now() - last.localMs) : undefined;
  }

  /** Closes the connections and ends every request in flight (ABORTED); the store is unusable afterwards. */
  close(): void {
    this.#closing.abort();
    this.#client.destroy();
    this.#dataClient.destroy();
  }

  /** The object key of a key relative to the prefix; refuses keys that would not list back as themselves. */
  #key(key: string): string {
    const parts = key.split('/');
    if (key.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) {
      throw new LifeboatError('BAD_NAME', `"${key}" is not a valid object key for continuous backup`, {
        hint: 'keys are relative to the prefix, like lifeboat-pitr/<dbId>/head; this is a bug, please report it',
      });
    }
    return `${this.#config.prefix}${key}`;
  }

  /** The ETag without its quotes; an answer without one cannot take part in conditional writes. */
  #etagOf(raw: string | undefined, operation: string, key: string): Etag {
    const etag = bareEtag(raw);
    if (!etag) {
      throw new LifeboatError(
        'S3_ERROR',
        `S3 ${operation} of ${key} at ${this.#config.url}, bucket "${this.#config.bucket}" answered without an ETag`,
        { hint: 'continuous backup needs a store that returns ETags and honours conditional writes' },
      );
    }
    return etag;
  }

  /** One request (the SDK's retries included) within `scale` × `s3_timeout`, ended early by `signal` or close(). */
  #deadline<T>(signal: AbortSignal | undefined, scale: number, call: (abortSignal: AbortSignal) => Promise<T>) {
    const stop = signal ? AbortSignal.any([this.#closing.signal, signal]) : this.#closing.signal;
    return withDeadline(call, this.#timeoutMs * scale, stop);
  }
}

/** A 404 about the object, not the bucket (NoSuchBucket is a 404 too). */
function isNoSuchKey(err: unknown): boolean {
  const { name, status } = errorFacts(err);
  return name === 'NoSuchKey' || (status === 404 && (name === 'NotFound' || name === 'Unknown'));
}

function scaleFor(body: Buffer): number {
  return Math.max(1, Math.ceil(body.length / BYTES_PER_TIMEOUT));
}
