import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  S3Client,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Logger } from 'pino';
import { Readable } from 'node:stream';
import type { S3Config } from '../config/types.js';
import { LifeboatError } from '../errors.js';
import { silentLogger } from '../log.js';
import type { BackupStore, PutOptions, StoredObject } from './store.js';

export interface S3StoreOptions {
  readonly logger?: Logger;
  /** Multipart part size; memory use is about partSize × queueSize. Default 16 MiB. */
  readonly partSizeBytes?: number;
  /** Parts uploaded in parallel. Default 4. */
  readonly queueSize?: number;
  /** Per-request timeout (no progress on a socket for this long fails the request). Default 60 s. */
  readonly requestTimeoutMs?: number;
  readonly connectionTimeoutMs?: number;
  /** Attempts per request (SDK standard retry with exponential backoff on 5xx/throttling/network). Default 5. */
  readonly maxAttempts?: number;
}

/**
 * An S3-compatible bucket (AWS, MinIO, Garage, Ceph, R2, …) as a BackupStore, with the
 * official AWS SDK v3. Objects are named `{prefix}{backup name}`; the default empty prefix
 * puts them at the bucket root, as Hiqlite does.
 */
export class S3Store implements BackupStore {
  readonly description: string;
  readonly client: S3Client;
  private readonly logger: Logger;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(
    readonly config: S3Config,
    options: S3StoreOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger();
    this.partSize = options.partSizeBytes ?? 16 * 1024 * 1024;
    this.queueSize = options.queueSize ?? 4;
    this.description = `s3 bucket "${config.bucket}" at ${config.url}${config.prefix ? ` (prefix "${config.prefix}")` : ''}`;
    this.client = new S3Client({
      endpoint: config.url,
      region: config.region,
      forcePathStyle: config.pathStyle,
      credentials: { accessKeyId: config.key, secretAccessKey: config.secret },
      maxAttempts: options.maxAttempts ?? 5,
      requestHandler: { requestTimeout: options.requestTimeoutMs ?? 60_000, connectionTimeout: options.connectionTimeoutMs ?? 10_000, throwOnRequestTimeout: true },
      // Many S3-compatible stores reject or mishandle the SDK's newer default CRC checksums;
      // send and verify them only where the API requires them.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private key(name: string): string {
    return `${this.config.prefix}${name}`;
  }

  async list(): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.send(
        () => this.client.send(new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: this.config.prefix || undefined, ContinuationToken: token })),
        'list',
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        const name = o.Key.slice(this.config.prefix.length);
        if (name === '' || name.includes('/')) continue; // "sub-folders" below the prefix are not ours
        out.push({ name, size: o.Size ?? 0, ...(o.LastModified ? { modified: o.LastModified } : {}) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async put(name: string, body: Readable, options: PutOptions = {}): Promise<StoredObject> {
    let consumed = 0;
    if (options.onProgress) {
      body.on('data', (chunk: Buffer) => {
        consumed += chunk.length;
        options.onProgress?.(consumed);
      });
    }
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.config.bucket, Key: this.key(name), Body: body, ContentType: 'application/octet-stream' },
      partSize: this.partSize,
      queueSize: this.queueSize,
      // A failed multipart upload is aborted, so no parts are left behind (and billed).
      leavePartsOnError: false,
    });
    const onAbort = () => void upload.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let size = 0;
    upload.on('httpUploadProgress', (p) => {
      if (p.loaded !== undefined) size = Math.max(size, p.loaded);
    });
    try {
      await this.send(() => upload.done(), `upload of ${name}`);
    } catch (err) {
      body.destroy();
      throw err;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    return { name, size, modified: new Date() };
  }

  async get(name: string): Promise<Readable> {
    const res = await this.send(() => this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.key(name) })), `download of ${name}`, name);
    if (!(res.Body instanceof Readable)) throw new LifeboatError('S3_ERROR', `the download of ${name} from ${this.description} returned no body stream`);
    return res.Body;
  }

  async delete(name: string): Promise<void> {
    await this.send(() => this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.key(name) })), `delete of ${name}`);
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

export function createS3Store(config: S3Config, options: S3StoreOptions = {}): S3Store {
  return new S3Store(config, options);
}

/** Start-up check: the endpoint answers, the credentials work and the bucket exists. */
export async function checkS3Access(store: BackupStore): Promise<void> {
  if (!(store instanceof S3Store)) return;
  try {
    await store.client.send(new HeadBucketCommand({ Bucket: store.config.bucket }));
  } catch (err) {
    throw classifyS3Error(err, store.config, 'access check');
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'TimeoutError', 'RequestTimeout']);

function errorCode(err: unknown): { name: string; status: number | undefined; code: string | undefined } {
  const e = err as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; cause?: { code?: string } };
  const nested = (e as { errors?: Array<{ code?: string }> }).errors?.[0]?.code;
  return { name: e?.name ?? 'Error', status: e?.$metadata?.httpStatusCode, code: e?.code ?? e?.cause?.code ?? nested };
}

/** Maps SDK/network failures to the four things an operator can act on, never echoing the secret. */
export function classifyS3Error(err: unknown, config: S3Config, what: string, object?: string): LifeboatError {
  if (err instanceof LifeboatError) return err;
  const { name, status, code } = errorCode(err);
  const where = `${config.url}, bucket "${config.bucket}"`;
  const raw = err instanceof Error ? err.message : String(err);
  const detail = redact(raw, config);
  if (name === 'NoSuchKey' || (object && status === 404 && name !== 'NoSuchBucket')) {
    return new LifeboatError('NOT_FOUND', `no object "${config.prefix}${object ?? ''}" in bucket "${config.bucket}" at ${config.url}`, { hint: 'run `lifeboat list --remote` to see the backups that exist', cause: err });
  }
  if (name === 'NoSuchBucket' || (status === 404 && what === 'access check')) {
    return new LifeboatError('S3_NO_BUCKET', `S3 ${what} failed: bucket "${config.bucket}" does not exist at ${config.url}`, { hint: 'create the bucket, or fix cluster.s3_bucket (HQL_S3_BUCKET)', cause: err });
  }
  if (name === 'RequestTimeTooSkewed') {
    return new LifeboatError('S3_CLOCK_SKEW', `S3 ${what} failed at ${where}: this machine's clock differs too much from the server's`, { hint: 'synchronise the system clock (NTP); S3 signatures are valid for 15 minutes', cause: err });
  }
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'Forbidden'].includes(name) || status === 403 || status === 401) {
    return new LifeboatError('S3_AUTH', `S3 ${what} failed at ${where}: the credentials were rejected (${name === 'Unknown' || name === 'Error' ? `HTTP ${status}` : name})`, {
      hint: 'check cluster.s3_key / s3_secret (HQL_S3_KEY, HQL_S3_SECRET) and that the key may read and write this bucket',
      cause: err,
    });
  }
  if ((code && NETWORK_CODES.has(code)) || NETWORK_CODES.has(name) || status === undefined) {
    return new LifeboatError('S3_UNREACHABLE', `S3 ${what} failed: cannot reach ${config.url} (${code ?? name}: ${detail})`, {
      hint: 'check cluster.s3_url (HQL_S3_URL), DNS, the network and that the server is running',
      cause: err,
    });
  }
  return new LifeboatError('S3_ERROR', `S3 ${what} failed at ${where}: ${name}${status ? ` (HTTP ${status})` : ''}: ${detail}`, { hint: 'see the S3 server logs; the request was retried before giving up', cause: err });
}

function redact(text: string, config: S3Config): string {
  let out = text;
  for (const s of [config.secret, config.key]) if (s) out = out.split(s).join('***');
  return out;
}

