import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { PassThrough, Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { Logger } from 'pino';
import type { S3Config } from '../../config/types.js';
import { LifeboatError } from '../../errors.js';
import { type LifeboatLogger, libraryLogger, silentLogger } from '../../log.js';
import type { BackupStore, ByteRange, RangeSource, StagedObject, StageOptions, StoredObject } from '../store.js';
import { withDeadline } from './deadline.js';
import { classifyS3Error, errorFacts, isPreconditionFailed, sanitize } from './errors.js';
import { SourceFailed, stageUpload, UploadStopped } from './upload.js';

const MiB = 1024 * 1024;

export interface S3StoreOptions {
  /** pino, console, … (see LifeboatLogger); default: none. */
  readonly logger?: LifeboatLogger;
  /**
   * Multipart part size. S3 allows 10 000 parts, so the default 16 MiB allows objects up to
   * 156 GiB (larger objects get larger parts). Minimum 5 MiB (an S3 rule).
   */
  readonly partSizeBytes?: number;
  /** Parts uploaded in parallel. Default 4. */
  readonly queueSize?: number;
  /**
   * The bound on a stalled S3 operation, retries included (`s3_timeout`, HQL_S3_TIMEOUT);
   * default 30 s. A control request (list, head, create, complete, abort, a download's
   * headers) must be answered within it; CompleteMultipartUpload gets it once per 1000 parts.
   * A request that carries data (a part, a single-part put) fails when none of its bytes moved
   * for this long, so a large upload that keeps moving is never cut off. A failed multipart
   * upload is then aborted, which is one more control request. Fails with S3_TIMEOUT.
   */
  readonly timeoutMs?: number;
  /**
   * Longest time one request may take from its start to the response headers, including
   * sending a whole part. Default 5 minutes (a 16 MiB part at ~60 KB/s). Fails with S3_TIMEOUT.
   */
  readonly requestTimeoutMs?: number;
  /**
   * One attempt (or a download's body) fails when its connection carries no bytes either way
   * for this long, and is retried while `timeoutMs` allows. Default: half of `timeoutMs` for
   * control requests and downloads (so a stalled one is tried twice); for an upload's data
   * the stall watch of `timeoutMs` comes first (this is a second of slack above it).
   */
  readonly idleTimeoutMs?: number;
  /** TCP (and TLS) connection set-up limit. Default 10 s, or the idle timeout when shorter. */
  readonly connectionTimeoutMs?: number;
  /**
   * Attempts per request, with the SDK's standard retry: exponential backoff with jitter on
   * 5xx, throttling (503 SlowDown), timeouts and network errors, and clock-skew correction.
   * Default 5.
   */
  readonly maxAttempts?: number;
  /**
   * The AWS SDK's "flexible checksums" (CRC32 headers on small PutObjects, validation of
   * checksums in responses). Default 'when-required': only where the S3 API demands one.
   * See the note in the constructor. Bodies streamed from a RangeSource never carry them.
   */
  readonly checksums?: 'when-required' | 'when-supported';
  /**
   * The offset between this machine's clock and the server's to sign with at first; the SDK
   * corrects it from the server's answers anyway (see clockOffsetMs()). For a machine whose
   * clock is known to be off.
   */
  readonly clockOffsetMs?: number;
  /** Own HTTP(S) agent, e.g. for a private CA, a proxy or custom DNS. */
  readonly agent?: HttpAgent | HttpsAgent;
}

/** The bound on a stalled S3 operation (options.timeoutMs, default 30 s), checked. */
export function s3TimeoutMs(options: S3StoreOptions): number {
  const ms = options.timeoutMs ?? 30_000;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new LifeboatError('S3_OPTIONS', `S3 timeout ${ms} ms must be a positive number`, {
      hint: 'set cluster.s3_timeout (HQL_S3_TIMEOUT) to a whole number of seconds, 1 or more',
    });
  }
  return ms;
}

/**
 * The one place an SDK client is configured from S3Config and the options: S3Store's two
 * clients and the conditional store of continuous backup (conditional.ts) are built here.
 */
export function s3ClientConfig(
  config: S3Config,
  options: S3StoreOptions,
  maxAttempts: number,
  idleMs: number,
): S3ClientConfig {
  const agent = options.agent;
  const checksums = options.checksums === 'when-supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
  return {
    endpoint: config.url,
    region: config.region,
    forcePathStyle: config.pathStyle,
    credentials: { accessKeyId: config.key, secretAccessKey: config.secret },
    maxAttempts,
    ...(options.clockOffsetMs !== undefined ? { systemClockOffset: options.clockOffsetMs } : {}),
    requestHandler: {
      requestTimeout: options.requestTimeoutMs ?? 300_000,
      // Without this the SDK only logs a warning when requestTimeout passes.
      throwOnRequestTimeout: true,
      socketTimeout: idleMs,
      connectionTimeout: options.connectionTimeoutMs ?? Math.min(10_000, idleMs),
      ...(agent
        ? config.url.startsWith('https:')
          ? { httpsAgent: agent as HttpsAgent }
          : { httpAgent: agent as HttpAgent }
        : {}),
    },
    // Since early 2025 (3.729) the SDK sends CRC32 checksums with every upload and
    // validates them on downloads by default. Ceph RGW 16 accepts them (tested both ways
    // in test/storage/s3.test.ts), but several S3-compatible stores, and older versions of
    // others, reject the new headers or the checksum fields of CompleteMultipartUpload.
    // 'WHEN_REQUIRED' keeps Lifeboat working with all of them. Integrity does not rest on
    // these checksums: TLS protects the bytes in transit, and every backup is AEAD-encrypted,
    // so a corrupted object is refused when it is decrypted for a restore.
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
  };
}

/** The client for control requests and small bodies, with the SDK's retries (S3Store's own, and conditional.ts's). */
export function createS3Client(config: S3Config, options: S3StoreOptions): S3Client {
  const idleMs = options.idleTimeoutMs ?? Math.ceil(s3TimeoutMs(options) / 2);
  return new S3Client(s3ClientConfig(config, options, options.maxAttempts ?? 5, idleMs));
}

/**
 * An S3-compatible bucket (AWS, MinIO, Garage, Ceph RGW, R2, …) as a BackupStore, with the
 * official AWS SDK v3. Objects are named `{prefix}{name}`; the default empty prefix puts them
 * at the bucket root, as Hiqlite does. Staging is a multipart upload, commit its
 * CompleteMultipartUpload, abort its AbortMultipartUpload.
 */
export class S3Store implements BackupStore {
  readonly description: string;
  readonly config: S3Config;
  /** The SDK client; it carries the credentials and stays inside this class. */
  readonly #client: S3Client;
  /** The same without SDK retries, for bodies streamed from a RangeSource (see upload.ts). */
  readonly #dataClient: S3Client;
  readonly #maxAttempts: number;
  /** The clock offset both clients started with (options.clockOffsetMs, else 0). */
  readonly #initialOffset: number;
  readonly #logger: Logger;
  readonly #partSize: number;
  readonly #queueSize: number;
  readonly #timeoutMs: number;
  /** Aborted by close(): every request in flight ends at once. */
  readonly #closing = new AbortController();
  /** Multipart uploads whose abort failed (the server was unreachable): removed by removeLeftovers. */
  readonly #unaborted = new Map<string, string>();

  constructor(config: S3Config, options: S3StoreOptions = {}) {
    this.config = config;
    this.#partSize = options.partSizeBytes ?? 16 * MiB;
    this.#queueSize = options.queueSize ?? 4;
    if (!Number.isInteger(this.#partSize) || this.#partSize < 5 * MiB) {
      throw new LifeboatError('S3_OPTIONS', `S3 part size ${this.#partSize} is below the S3 minimum of 5 MiB`, {
        hint: 'use a partSizeBytes of at least 5242880',
      });
    }
    if (!Number.isInteger(this.#queueSize) || this.#queueSize < 1) {
      throw new LifeboatError('S3_OPTIONS', `S3 queue size ${this.#queueSize} must be a whole number of at least 1`, {
        hint: 'use a queueSize of 1 or more',
      });
    }
    const prefix = config.prefix ? ` (prefix "${config.prefix}")` : '';
    this.description = `s3 bucket "${config.bucket}" at ${config.url}${prefix}`;
    const logger = options.logger ? libraryLogger(options.logger, {}) : silentLogger();
    this.#logger = logger.child({ store: this.description });
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#initialOffset = options.clockOffsetMs ?? 0;
    this.#timeoutMs = s3TimeoutMs(options);
    this.#client = createS3Client(config, options);
    // The SDK warns on the console when a streamed request fails ("non-retryable streaming
    // request"); upload.ts handles and reports that failure, so its warnings go to debug.
    const sdkLog = this.#logger.child({ sdk: 'data' });
    const toDebug = (...m: unknown[]) => sdkLog.debug(m.map(String).join(' '));
    // Always without flexible checksums: for a streamed body the SDK would send them as
    // aws-chunked trailers without a Content-Length, which Ceph RGW 16 (and other stores)
    // refuse with 411 MissingContentLength. The bytes are AEAD-encrypted either way.
    this.#dataClient = new S3Client({
      // A little over the bound: the stall watch of upload.ts ends a stalled part first, with
      // a message that says what the bound is; this is the safety net below it.
      ...s3ClientConfig(config, options, 1, options.idleTimeoutMs ?? this.#timeoutMs + 1000),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      logger: { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: toDebug, error: toDebug },
    });
  }

  /** The object key of a name; refuses names that would not list back as themselves. */
  #key(name: string): string {
    if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
      throw new LifeboatError('BAD_NAME', `"${name}" is not a valid backup name`, {
        hint: 'backup names look like backup_node_1_1732415400.sqlite',
      });
    }
    return `${this.config.prefix}${name}`;
  }

  /**
   * The names directly under the prefix, with the prefix stripped, in every page of
   * ListObjectsV2. "Folders" below the prefix (keys with a further "/") are not backups of
   * this store; the delimiter makes the server fold them instead of listing their contents.
   */
  async list(): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    const { bucket, prefix } = this.config;
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.#send('list', undefined, (abortSignal) =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: prefix || undefined,
            Delimiter: '/',
            ContinuationToken: token,
          }),
          { abortSignal },
        ),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key?.startsWith(prefix)) continue;
        const name = o.Key.slice(prefix.length);
        // Dot names are Lifeboat's bookkeeping (the database marker), not backups, as in a folder.
        if (name === '' || name.includes('/') || name.startsWith('.')) continue;
        out.push({ name, size: o.Size ?? 0, ...(o.LastModified ? { modified: o.LastModified } : {}) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async stat(name: string): Promise<StoredObject | undefined> {
    const Key = this.#key(name);
    try {
      const head = await this.#send(`stat of ${name}`, name, (abortSignal) =>
        this.#client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key }), { abortSignal }),
      );
      return {
        name,
        size: head.ContentLength ?? 0,
        ...(head.LastModified ? { modified: head.LastModified } : {}),
        ...(head.Metadata && Object.keys(head.Metadata).length > 0 ? { metadata: head.Metadata } : {}),
      };
    } catch (err) {
      if (err instanceof LifeboatError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** The object's bytes (or one range) as a stream; errors while reading arrive as LifeboatErrors too. */
  async get(name: string, range?: ByteRange, options: { signal?: AbortSignal | undefined } = {}): Promise<Readable> {
    const Key = this.#key(name);
    if (range && range.end <= range.start) return Readable.from([]);
    const what = `download of ${name}`;
    const Range = range ? `bytes=${range.start}-${range.end - 1}` : undefined;
    const stop = options.signal ? AbortSignal.any([this.#closing.signal, options.signal]) : this.#closing.signal;
    // The deadline covers the answer's headers; the body then streams as long as it moves
    // (the idle timeout of the connection ends a stalled one).
    let res: GetObjectCommandOutput;
    try {
      res = await withDeadline(
        (abortSignal) =>
          this.#client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key, Range }), { abortSignal }),
        this.#timeoutMs,
        stop,
      );
    } catch (err) {
      throw classifyS3Error(err, this.config, what, name);
    }
    const body = res.Body;
    if (!(body instanceof Readable)) {
      throw new LifeboatError('S3_ERROR', `the ${what} from ${this.description} returned no body stream`);
    }
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    body.on('error', (err) => out.destroy(classifyS3Error(err, this.config, what, name)));
    // A reader that gives up early must free the connection.
    out.on('close', () => body.destroy());
    const onStop = () =>
      out.destroy(new LifeboatError('ABORTED', `S3 ${what} was interrupted`, { cause: options.signal?.reason }));
    options.signal?.addEventListener('abort', onStop, { once: true });
    out.on('close', () => options.signal?.removeEventListener('abort', onStop));
    body.pipe(out);
    return out;
  }

  /**
   * A multipart upload streamed from the source (upload.ts): `queueSize` parts in flight with
   * no part held in memory, each retried by reading its range again.
   */
  stage(name: string, source: RangeSource, options: StageOptions = {}): StagedObject {
    const key = this.#key(name);
    const what = `upload of ${name}`;
    const t0 = performance.now();
    const upload = stageUpload({
      dataClient: this.#dataClient,
      controlClient: this.#client,
      bucket: this.config.bucket,
      key,
      source,
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      maxAttempts: this.#maxAttempts,
      control: (step, call, scale) => this.#deadline(step, call, scale),
      stallMs: this.#timeoutMs,
      signal: options.signal,
      onProgress: options.onProgress,
      metadata: options.metadata,
      onAbortFailure: (err, uploadId) => {
        this.#unaborted.set(uploadId, key);
        this.#logger.warn(
          { object: key, uploadId, err: sanitize(err, this.config) },
          'could not abort the multipart upload; the next backup run removes it (removeLeftovers)',
        );
      },
    });
    return {
      commit: async () => {
        try {
          await upload.commit();
        } catch (err) {
          if (err instanceof SourceFailed) throw err.reason;
          if (err instanceof UploadStopped) {
            throw new LifeboatError('ABORTED', `${what} to ${this.description} was interrupted; nothing was stored`, {
              cause: err.reason,
            });
          }
          throw classifyS3Error(err, this.config, what, name);
        }
        const ms = Math.round(performance.now() - t0);
        this.#logger.debug({ object: key, bytes: source.size, ms }, 'object stored');
        return { name, size: source.size, modified: new Date() };
      },
      abort: () => upload.abort(),
    };
  }

  async create(name: string, body: Buffer): Promise<StoredObject> {
    const Key = this.#key(name);
    try {
      await this.#deadline(undefined, (abortSignal) =>
        this.#client.send(new PutObjectCommand({ Bucket: this.config.bucket, Key, Body: body, IfNoneMatch: '*' }), {
          abortSignal,
        }),
      );
    } catch (err) {
      if (isPreconditionFailed(err)) {
        throw new LifeboatError('EXISTS', `${name} already exists in ${this.description}`, {
          cause: sanitize(err, this.config),
        });
      }
      throw classifyS3Error(err, this.config, `create of ${name}`, name);
    }
    return { name, size: body.length, modified: new Date() };
  }

  async delete(name: string): Promise<void> {
    const Key = this.#key(name);
    await this.#send(`delete of ${name}`, undefined, (abortSignal) =>
      this.#client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key }), { abortSignal }),
    );
  }

  /**
   * That the endpoint answers, the credentials are accepted, the clock is close enough and
   * the bucket exists and may be listed — with one ListObjectsV2 of at most one key (a GET, so
   * the server's error code arrives, which a HEAD cannot carry). Rejects with S3_UNREACHABLE,
   * S3_TIMEOUT, S3_AUTH, S3_CLOCK_SKEW, S3_REGION or S3_NO_BUCKET.
   */
  async checkAccess(): Promise<void> {
    const { bucket, prefix } = this.config;
    await this.#send('access check', undefined, (abortSignal) =>
      this.#client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, MaxKeys: 1 }), {
        abortSignal,
      }),
    );
  }

  /**
   * How far the server's clock is ahead of this machine's, in ms, as the SDK measured it from
   * the server's answers (0 until a request was refused for skew, or when the clocks agree).
   */
  clockOffsetMs(): number {
    // Both clients learn it, from whichever of their requests met the skew first (a push's data
    // requests go through the data client): a client that corrected its start value measured it.
    const control = this.#client.config.systemClockOffset ?? 0;
    const data = this.#dataClient.config.systemClockOffset ?? 0;
    return control === this.#initialOffset && data !== this.#initialOffset ? data : control;
  }

  /**
   * Removes what interrupted uploads left behind: first the multipart uploads this store could
   * not abort (their server did not answer then; they are dead whatever their age), then every
   * unfinished multipart upload directly under the prefix that was initiated before
   * `olderThan` and whose name `isOwn` accepts. An upload in progress is younger than any sane
   * `olderThan` (a day): S3 keeps an abandoned one, and its parts, forever without a
   * lifecycle rule. Returns the names removed.
   */
  async removeLeftovers(olderThan: Date, isOwn: (name: string) => boolean = () => true): Promise<string[]> {
    const { bucket, prefix } = this.config;
    const removed: string[] = [];
    const abort = async (key: string, uploadId: string) => {
      const name = key.slice(prefix.length);
      try {
        await this.#deadline(undefined, (abortSignal) =>
          this.#client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }), {
            abortSignal,
          }),
        );
      } catch (err) {
        // An earlier abort may have reached the server although its answer did not come back.
        const { name: code, status } = errorFacts(err);
        if (code !== 'NoSuchUpload' && status !== 404) {
          throw classifyS3Error(err, this.config, `abort of the unfinished upload of ${name}`);
        }
      }
      this.#unaborted.delete(uploadId);
      removed.push(name);
      this.#logger.info({ object: key, uploadId }, 'removed an unfinished multipart upload');
    };
    for (const [uploadId, key] of [...this.#unaborted]) await abort(key, uploadId);
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page: ListMultipartUploadsCommandOutput = await this.#send(
        'listing of unfinished uploads',
        undefined,
        (s) =>
          this.#client.send(
            new ListMultipartUploadsCommand({
              Bucket: bucket,
              Prefix: prefix || undefined,
              KeyMarker: keyMarker,
              UploadIdMarker: uploadIdMarker,
            }),
            { abortSignal: s },
          ),
      );
      for (const u of page.Uploads ?? []) {
        if (!u.Key?.startsWith(prefix) || !u.UploadId || !u.Initiated) continue;
        const name = u.Key.slice(prefix.length);
        if (name === '' || name.includes('/') || !isOwn(name) || !(u.Initiated < olderThan)) continue;
        await abort(u.Key, u.UploadId);
      }
      const more = page.IsTruncated && (page.NextKeyMarker || page.NextUploadIdMarker);
      keyMarker = more ? page.NextKeyMarker : undefined;
      uploadIdMarker = more ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined || uploadIdMarker !== undefined);
    return removed;
  }

  /** Closes the connections and ends every request in flight (ABORTED); the store is unusable afterwards. */
  close(): void {
    this.#closing.abort();
    this.#client.destroy();
    this.#dataClient.destroy();
  }

  /** One control request within the store's deadline (times `scale`); its failure is the SDK's error. */
  #deadline<T>(label: string | undefined, call: (abortSignal: AbortSignal) => Promise<T>, scale = 1): Promise<T> {
    return withDeadline(call, this.#timeoutMs * scale, this.#closing.signal, label);
  }

  /** One control request within its deadline; a failure becomes a LifeboatError that says what to check. */
  async #send<T>(what: string, object: string | undefined, call: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await this.#deadline(undefined, call);
    } catch (err) {
      throw classifyS3Error(err, this.config, what, object);
    }
  }
}
