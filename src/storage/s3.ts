import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Logger } from 'pino';
import type { S3Config } from '../config/types.js';
import { LifeboatError } from '../errors.js';
import { silentLogger } from '../log.js';
import { CommitRefused, SourceFailed, uploadRanged } from './s3-ranged-upload.js';
import {
  type BackupStore,
  isRangeSource,
  type PutBody,
  type PutOptions,
  type RangeSource,
  type StoredObject,
} from './store.js';

const MiB = 1024 * 1024;

export interface S3StoreOptions {
  readonly logger?: Logger;
  /**
   * Multipart part size. Memory use of a put is bounded by about partSize × queueSize
   * (plus one part being assembled), whatever the object size. S3 allows 10 000 parts, so
   * the default 16 MiB allows objects up to 156 GiB. Minimum 5 MiB (an S3 rule).
   */
  readonly partSizeBytes?: number;
  /** Parts uploaded in parallel. Default 4. */
  readonly queueSize?: number;
  /**
   * Longest time one request may take from its start to the response headers, including
   * sending a whole part. Default 5 minutes (a 16 MiB part at ~60 KB/s). Fails with S3_TIMEOUT.
   */
  readonly requestTimeoutMs?: number;
  /**
   * A request (or a download's body) fails when its connection carries no bytes either way
   * for this long: a hung server is noticed well before the request timeout. Default 60 s.
   */
  readonly idleTimeoutMs?: number;
  /** TCP (and TLS) connection set-up limit. Default 10 s. */
  readonly connectionTimeoutMs?: number;
  /**
   * Attempts per request, with the SDK's standard retry: exponential backoff with jitter on
   * 5xx, throttling (503 SlowDown), timeouts and network errors, and clock-skew correction.
   * Default 5.
   */
  readonly maxAttempts?: number;
  /**
   * The AWS SDK's "flexible checksums" (CRC32 headers on PutObject/UploadPart, validation
   * of checksums in responses). Default 'when-required': only where the S3 API demands
   * one. See the note in the S3Store constructor. Parts streamed from a RangeSource never
   * carry them (see the data client).
   */
  readonly checksums?: 'when-required' | 'when-supported';
  /** Own HTTP(S) agent, e.g. for a private CA, a proxy or custom DNS. */
  readonly agent?: HttpAgent | HttpsAgent;
}

/**
 * An S3-compatible bucket (AWS, MinIO, Garage, Ceph RGW, R2, …) as a BackupStore, with the
 * official AWS SDK v3. Objects are named `{prefix}{backup name}`; the default empty prefix
 * puts them at the bucket root, as Hiqlite does.
 */
export class S3Store implements BackupStore {
  readonly description: string;
  /** The SDK client (exposed for start-up checks and tests; it carries the credentials). */
  readonly client: S3Client;
  /** The same without SDK retries, for bodies streamed from a RangeSource. */
  private readonly dataClient: S3Client;
  private readonly maxAttempts: number;
  private readonly logger: Logger;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(
    readonly config: S3Config,
    options: S3StoreOptions = {},
  ) {
    this.partSize = options.partSizeBytes ?? 16 * MiB;
    this.queueSize = options.queueSize ?? 4;
    if (!Number.isInteger(this.partSize) || this.partSize < 5 * MiB) {
      throw new LifeboatError('S3_OPTIONS', `S3 part size ${this.partSize} is below the S3 minimum of 5 MiB`, {
        hint: 'use a partSizeBytes of at least 5242880',
      });
    }
    if (!Number.isInteger(this.queueSize) || this.queueSize < 1) {
      throw new LifeboatError('S3_OPTIONS', `S3 queue size ${this.queueSize} must be a whole number of at least 1`, {
        hint: 'use a queueSize of 1 or more',
      });
    }
    this.description = `s3 bucket "${config.bucket}" at ${config.url}${config.prefix ? ` (prefix "${config.prefix}")` : ''}`;
    this.logger = (options.logger ?? silentLogger()).child({ store: this.description });
    const agent = options.agent;
    const checksums = options.checksums === 'when-supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
    this.maxAttempts = options.maxAttempts ?? 5;
    const clientConfig = (maxAttempts: number): S3ClientConfig => ({
      endpoint: config.url,
      region: config.region,
      forcePathStyle: config.pathStyle,
      credentials: { accessKeyId: config.key, secretAccessKey: config.secret },
      maxAttempts,
      requestHandler: {
        requestTimeout: options.requestTimeoutMs ?? 300_000,
        // Without this the SDK only logs a warning when requestTimeout passes.
        throwOnRequestTimeout: true,
        socketTimeout: options.idleTimeoutMs ?? 60_000,
        connectionTimeout: options.connectionTimeoutMs ?? 10_000,
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
    });
    this.client = new S3Client(clientConfig(this.maxAttempts));
    // Requests whose body is streamed from a RangeSource are retried by s3-ranged-upload.ts,
    // which can open the body again; the SDK cannot retry a stream.
    // The SDK warns on the console when such a request fails ("non-retryable streaming
    // request"); the failure is handled and reported here, so its warnings go to debug.
    const sdkLog = this.logger.child({ sdk: 'data' });
    // Always without flexible checksums: for a streamed body the SDK would send them as
    // aws-chunked trailers without a Content-Length, which Ceph RGW 16 (and other stores)
    // refuse with 411 MissingContentLength. The bytes are AEAD-encrypted either way.
    this.dataClient = new S3Client({
      ...clientConfig(1),
      requestChecksumCalculation: 'WHEN_REQUIRED',
      logger: {
        trace: () => undefined,
        debug: () => undefined,
        info: () => undefined,
        warn: (...m: unknown[]) => sdkLog.debug(m.map(String).join(' ')),
        error: (...m: unknown[]) => sdkLog.debug(m.map(String).join(' ')),
      },
    });
  }

  /** The object key of a backup name; refuses names that would not list back as themselves. */
  private key(name: string): string {
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
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.send(
        () =>
          this.client.send(
            new ListObjectsV2Command({
              Bucket: this.config.bucket,
              Prefix: this.config.prefix || undefined,
              Delimiter: '/',
              ContinuationToken: token,
            }),
          ),
        'list',
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key?.startsWith(this.config.prefix)) continue;
        const name = o.Key.slice(this.config.prefix.length);
        if (name === '' || name.includes('/')) continue;
        out.push({ name, size: o.Size ?? 0, ...(o.LastModified ? { modified: o.LastModified } : {}) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Stores a stream (one pass, parts buffered) or a RangeSource (parts streamed, see putRanged). */
  async put(name: string, body: PutBody, options: PutOptions = {}): Promise<StoredObject> {
    return isRangeSource(body) ? this.putRanged(name, body, options) : this.putStream(name, body, options);
  }

  /**
   * A RangeSource goes up in parts streamed straight from the source (s3-ranged-upload.ts):
   * `queueSize` parts in flight with no part held in memory, each retried by reading its
   * range again. Same all-or-nothing rules as for a stream.
   */
  private async putRanged(name: string, source: RangeSource, options: PutOptions): Promise<StoredObject> {
    const key = this.key(name);
    const what = `upload of ${name}`;
    const t0 = performance.now();
    try {
      await uploadRanged({
        dataClient: this.dataClient,
        controlClient: this.client,
        bucket: this.config.bucket,
        key,
        source,
        partSize: this.partSize,
        queueSize: this.queueSize,
        maxAttempts: this.maxAttempts,
        signal: options.signal ?? NEVER_ABORTED,
        onProgress: options.onProgress,
        beforeCommit: options.beforeCommit,
        onAbortFailure: (err, uploadId) =>
          this.logger.warn(
            { object: key, uploadId, err: sanitize(err, this.config) },
            'could not abort the multipart upload; its parts stay until a bucket lifecycle rule removes them',
          ),
      });
    } catch (err) {
      if (err instanceof CommitRefused || err instanceof SourceFailed) throw err.reason;
      if (options.signal?.aborted) throw this.interrupted(what, options.signal);
      throw classifyS3Error(err, this.config, what, name);
    }
    this.logger.debug({ object: key, bytes: source.size, ms: Math.round(performance.now() - t0) }, 'object stored');
    return { name, size: source.size, modified: new Date() };
  }

  /**
   * Streams `body` to the object with lib-storage's Upload: one PutObject when it fits in
   * one part, else a multipart upload with `queueSize` parts in flight. Each request is
   * retried by the SDK (parts are buffers, so a retry resends the same bytes).
   *
   * All-or-nothing: when anything fails for good — a part, the body stream, the caller's
   * signal — the other parts in flight are cancelled, no more of the body is read, the
   * multipart upload is aborted (so no parts stay behind, invisible and billed) and only
   * then does put reject. Errors of the body are rethrown as they are; S3 errors become
   * LifeboatErrors.
   */
  private async putStream(name: string, body: Readable, options: PutOptions): Promise<StoredObject> {
    const key = this.key(name);
    const t0 = performance.now();
    const what = `upload of ${name}`;
    let bytes = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        options.onProgress?.(bytes);
        done(null, chunk);
      },
      // The upload completes only after the body ends: holding the end holds the commit.
      flush(done) {
        if (!options.beforeCommit) return done();
        options.beforeCommit().then(
          () => done(),
          (err: unknown) => done(err as Error),
        );
      },
    });
    // Once we stop the upload ourselves (a failed request, the caller's signal) the body is
    // destroyed with a Stopped error, which must not be mistaken for a failure of the body.
    let stopping = false;
    let bodyError: unknown;
    let s3Failure: unknown;
    let abortFailure: unknown;
    const cancel = new AbortController();
    const stop = (why: string): void => {
      if (stopping) return;
      stopping = true;
      const reason = new Stopped(why);
      cancel.abort(reason);
      counted.destroy(reason);
    };
    const noteBodyError = (err: unknown) => {
      if (err instanceof Stopped) return;
      bodyError ??= err;
      stop('the body failed'); // parts in flight are cancelled rather than finished in vain
    };
    body.on('error', noteBodyError);
    counted.on('error', noteBodyError); // e.g. an onProgress callback that threw
    const feeding = pipeline(body, counted).catch(() => undefined);
    const onAbort = () => stop('interrupted by the caller');
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const upload = new Upload({
      client: failFastClient(this.client, {
        signal: cancel.signal,
        onDataFailure: (err) => {
          s3Failure ??= err;
          stop('a request failed for good');
        },
        onAbortFailure: (err) => (abortFailure = err),
      }),
      params: { Bucket: this.config.bucket, Key: key, Body: counted, ContentType: 'application/octet-stream' },
      partSize: this.partSize,
      queueSize: this.queueSize,
      // A failed multipart upload is aborted, so no parts are left behind (and billed).
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      stop('the upload failed');
      body.destroy();
      await feeding;
      if (abortFailure !== undefined) {
        this.logger.warn(
          { object: key, uploadId: upload.uploadId, err: sanitize(abortFailure, this.config) },
          'could not abort the multipart upload; its parts stay until a bucket lifecycle rule removes them',
        );
      } else if (upload.uploadId) {
        this.logger.debug({ object: key, uploadId: upload.uploadId }, 'multipart upload aborted');
      }
      if (options.signal?.aborted) throw this.interrupted(what, options.signal);
      if (bodyError !== undefined) throw bodyError;
      // The first request that failed for good says why; what lib-storage rethrows may be a
      // consequence (a part we cancelled, the stopped body, a failed AbortMultipartUpload).
      throw classifyS3Error(s3Failure ?? err, this.config, what, name);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      body.off('error', noteBodyError);
    }
    await feeding;
    const ms = performance.now() - t0;
    this.logger.debug({ object: key, bytes, ms: Math.round(ms) }, 'object stored');
    return { name, size: bytes, modified: new Date() };
  }

  /** The object's bytes as a stream; errors while reading it arrive as LifeboatErrors too. */
  async get(name: string): Promise<Readable> {
    const key = this.key(name);
    const what = `download of ${name}`;
    const res = await this.send(
      () => this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: key })),
      what,
      name,
    );
    const body = res.Body;
    if (!(body instanceof Readable))
      throw new LifeboatError('S3_ERROR', `the ${what} from ${this.description} returned no body stream`);
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    body.on('error', (err) => out.destroy(classifyS3Error(err, this.config, what, name)));
    // A reader that gives up early must free the connection.
    out.on('close', () => body.destroy());
    body.pipe(out);
    return out;
  }

  async delete(name: string): Promise<void> {
    const key = this.key(name);
    await this.send(
      () => this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key })),
      `delete of ${name}`,
    );
  }

  private interrupted(what: string, signal: AbortSignal): LifeboatError {
    return new LifeboatError('ABORTED', `${what} to ${this.description} was interrupted; nothing was stored`, {
      cause: signal.reason,
    });
  }

  /** Runs one SDK call and turns its failure into a LifeboatError that says what to check. */
  private async send<T>(call: () => Promise<T>, what: string, object?: string): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw classifyS3Error(err, this.config, what, object);
    }
  }
}

/** For a put without a caller's signal. */
const NEVER_ABORTED = new AbortController().signal;

/** Why we destroyed a put's body ourselves. */
class Stopped extends Error {
  override readonly name = 'Stopped';
}

type SendWithOptions = (command: unknown, options?: { abortSignal?: AbortSignal }) => Promise<unknown>;

/**
 * The client as lib-storage's Upload sees it. Upload has no way to stop early: when one
 * part fails for good, its other workers keep reading the body and uploading parts until
 * the body ends, and `Upload.abort()` rejects at once while the multipart upload is
 * aborted in the background. Here, requests that carry data (PutObject, UploadPart) get
 * our cancel signal and report a final failure, so the caller can stop everything at once
 * and still await Upload's own clean-up (AbortMultipartUpload, which is never cancelled).
 */
function failFastClient(
  client: S3Client,
  hooks: { signal: AbortSignal; onDataFailure: (err: unknown) => void; onAbortFailure: (err: unknown) => void },
): S3Client {
  const send = client.send.bind(client) as unknown as SendWithOptions;
  return new Proxy(client, {
    get(target, prop) {
      if (prop !== 'send') return Reflect.get(target, prop, target);
      return async (command: unknown) => {
        const carriesData = command instanceof UploadPartCommand || command instanceof PutObjectCommand;
        try {
          return await (carriesData ? send(command, { abortSignal: hooks.signal }) : send(command));
        } catch (err) {
          if (carriesData) hooks.onDataFailure(err);
          if (command instanceof AbortMultipartUploadCommand) hooks.onAbortFailure(err);
          throw err;
        }
      };
    },
  });
}

export function createS3Store(config: S3Config, options: S3StoreOptions = {}): S3Store {
  return new S3Store(config, options);
}

/**
 * Start-up check that the endpoint answers, the credentials are accepted, the clock is
 * close enough and the bucket exists and may be listed — with one ListObjectsV2 of at most
 * one key (a GET, so the server's error code arrives, which a HEAD cannot carry). Rejects
 * with S3_UNREACHABLE, S3_TIMEOUT, S3_AUTH, S3_CLOCK_SKEW, S3_REGION or S3_NO_BUCKET.
 * Stores that are not S3 pass.
 */
export async function checkS3Access(target: BackupStore | S3Config, options: S3StoreOptions = {}): Promise<void> {
  // `options` apply when a config is given; a store brings its own.
  const own = !(target instanceof S3Store) && isS3Config(target);
  const store = target instanceof S3Store ? target : own ? new S3Store(target, options) : undefined;
  if (!store) return;
  const { bucket, prefix } = store.config;
  try {
    await store.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, MaxKeys: 1 }));
  } catch (err) {
    throw classifyS3Error(err, store.config, 'access check');
  } finally {
    if (own) store.client.destroy();
  }
}

function isS3Config(x: BackupStore | S3Config): x is S3Config {
  return (
    typeof (x as S3Config).url === 'string' &&
    typeof (x as S3Config).bucket === 'string' &&
    typeof (x as Partial<BackupStore>).list !== 'function'
  );
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EPROTO',
]);
const DROPPED_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL/;

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
  cause?: { code?: string };
  errors?: Array<{ code?: string }>;
}

function errorFacts(err: unknown): {
  name: string;
  status: number | undefined;
  code: string | undefined;
  requestId: string | undefined;
} {
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  return {
    name: e.name ?? 'Error',
    status: e.$metadata?.httpStatusCode,
    code: e.code ?? e.cause?.code ?? e.errors?.[0]?.code,
    requestId: e.$metadata?.requestId,
  };
}

/**
 * What is kept of an SDK error as the `cause`: name, code, status, request id and the
 * redacted message. SDK errors carry extra fields (e.g. AWSAccessKeyId and StringToSign on
 * SignatureDoesNotMatch) that must not reach logs through a serialised cause.
 */
function sanitize(err: unknown, config: S3Config): Error {
  const { name, status, code, requestId } = errorFacts(err);
  const raw = err instanceof Error ? err.message : String(err);
  return Object.assign(new Error(redact(raw, config)), {
    name,
    ...(code ? { code } : {}),
    ...(status ? { statusCode: status } : {}),
    ...(requestId ? { requestId } : {}),
  });
}

/** Maps SDK/network failures to what an operator can act on, never echoing the credentials. */
export function classifyS3Error(err: unknown, config: S3Config, what: string, object?: string): LifeboatError {
  if (err instanceof LifeboatError) return err;
  const { name, status, code } = errorFacts(err);
  const cause = sanitize(err, config);
  const detail = cause.message;
  const where = `${config.url}, bucket "${config.bucket}"`;
  if (name === 'AbortError') {
    return new LifeboatError('ABORTED', `S3 ${what} at ${where} was interrupted`, { cause });
  }
  // A HEAD has no body to carry the code: its 404 arrives as NotFound/Unknown.
  if (name === 'NoSuchKey' || (object !== undefined && status === 404 && (name === 'NotFound' || name === 'Unknown'))) {
    return new LifeboatError(
      'NOT_FOUND',
      `no object "${config.prefix}${object ?? ''}" in bucket "${config.bucket}" at ${config.url}`,
      { hint: 'run `lifeboat list --remote` to see the backups that exist', cause },
    );
  }
  if (name === 'NoSuchBucket' || (status === 404 && what === 'access check')) {
    return new LifeboatError(
      'S3_NO_BUCKET',
      `S3 ${what} failed: bucket "${config.bucket}" does not exist at ${config.url}`,
      { hint: 'create the bucket, or fix cluster.s3_bucket (HQL_S3_BUCKET)', cause },
    );
  }
  if (name === 'RequestTimeTooSkewed') {
    return new LifeboatError(
      'S3_CLOCK_SKEW',
      `S3 ${what} failed at ${where}: this machine's clock differs too much from the server's`,
      { hint: 'synchronise the system clock (NTP); S3 signatures are valid for 15 minutes', cause },
    );
  }
  if (
    [
      'AuthorizationHeaderMalformed',
      'PermanentRedirect',
      'IllegalLocationConstraintException',
      'InvalidRegion',
    ].includes(name) ||
    status === 301
  ) {
    return new LifeboatError(
      'S3_REGION',
      `S3 ${what} failed at ${where}: the server expects another region than "${config.region}" (${name})`,
      { hint: 'check cluster.s3_region (HQL_S3_REGION) and cluster.s3_url (HQL_S3_URL)', cause },
    );
  }
  if (
    ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'Forbidden'].includes(name) ||
    status === 403 ||
    status === 401
  ) {
    return new LifeboatError(
      'S3_AUTH',
      `S3 ${what} failed at ${where}: the credentials were rejected (${name === 'Unknown' || name === 'Error' ? `HTTP ${status}` : name})`,
      {
        hint: 'check cluster.s3_key / s3_secret (HQL_S3_KEY, HQL_S3_SECRET) and that the key may read and write this bucket',
        cause,
      },
    );
  }
  if (status === undefined) {
    const unreachable = (
      message: string,
      hint = 'check cluster.s3_url (HQL_S3_URL), DNS, the network and that the server is running',
    ) => new LifeboatError('S3_UNREACHABLE', `S3 ${what} failed: ${message}`, { hint, cause });
    // The SDK names every socket-level failure TimeoutError (also ECONNRESET and EPIPE), so
    // the code and the message tell them apart.
    if (/establishing a connection/i.test(detail))
      return unreachable(`cannot reach ${config.url} (no connection: ${detail})`);
    if (code && CONNECT_CODES.has(code)) return unreachable(`cannot reach ${config.url} (${code}: ${detail})`);
    if (code && TLS_CODES.test(code)) {
      return unreachable(
        `TLS with ${config.url} failed (${code}: ${detail})`,
        'check that cluster.s3_url (HQL_S3_URL) names the right scheme and host; for a private CA set NODE_EXTRA_CA_CERTS',
      );
    }
    if (code && DROPPED_CODES.has(code))
      return unreachable(
        `the connection to ${config.url} was lost (${code}: ${detail})`,
        'check the network and the S3 server (HQL_S3_URL); the request was retried before giving up',
      );
    if (code === 'ETIMEDOUT' || name === 'TimeoutError') {
      return new LifeboatError('S3_TIMEOUT', `S3 ${what} at ${where} timed out: ${detail}`, {
        hint: 'the server or the network is too slow or stuck; check the S3 server and the link to it (HQL_S3_URL); the request was retried before giving up',
        cause,
      });
    }
  }
  return new LifeboatError(
    'S3_ERROR',
    `S3 ${what} failed at ${where}: ${name}${status ? ` (HTTP ${status})` : ''}: ${detail}`,
    { hint: 'see the S3 server logs; the request was retried before giving up', cause },
  );
}

function redact(text: string, config: S3Config): string {
  let out = text;
  for (const s of [config.secret, config.key]) if (s) out = out.split(s).join('***');
  return out;
}
