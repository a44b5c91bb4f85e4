import { type Readable, Transform } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { isClockSkewError, isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import type { RangeSource } from './store.js';

/**
 * Upload of a RangeSource: parts are streamed from the source as they are sent, so memory
 * stays at a few read buffers per part in flight whatever the part size, and a failed part
 * is retried by opening its range again. (lib-storage's Upload, used for one-pass streams,
 * has to keep every part in memory until it is acknowledged so that the SDK can resend it.)
 *
 * The SDK does not retry a request whose body is a stream (it cannot rewind it; it only
 * warns "non-retryable streaming request"), so the requests that carry data go through a
 * client with maxAttempts 1 and this module retries them itself, opening the range again,
 * with the SDK's own error classification and a backoff like its own (full jitter, 100 ms
 * base, 500 ms for throttling, 20 s cap). Small control requests use the normal client.
 */

/** S3's limit on the number of parts in one multipart upload. */
export const MAX_PARTS = 10_000;

export interface RangedUpload {
  /** Client for requests with a body; maxAttempts 1 (see above). */
  readonly dataClient: S3Client;
  /** Client for CreateMultipartUpload, CompleteMultipartUpload, AbortMultipartUpload. */
  readonly controlClient: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly source: RangeSource;
  readonly partSize: number;
  readonly queueSize: number;
  readonly maxAttempts: number;
  /** Aborts every request in flight; the caller's signal, or its own stop. */
  readonly signal: AbortSignal;
  readonly onProgress?: ((bytes: number) => void) | undefined;
  readonly beforeCommit?: (() => Promise<void>) | undefined;
  /** Called when the multipart upload could not be aborted after a failure. */
  readonly onAbortFailure?: ((err: unknown, uploadId: string) => void) | undefined;
}

/** The source failed while a request was reading it; `reason` is its error. */
export class SourceFailed extends Error {
  override readonly name = 'SourceFailed';
  constructor(readonly reason: unknown) {
    super('the source of the upload failed');
  }
}

/** The error of `beforeCommit`, so callers can tell it from a failure of the store. */
export class CommitRefused extends Error {
  override readonly name = 'CommitRefused';
  constructor(readonly reason: unknown) {
    super('the caller refused to commit the object');
  }
}

export async function uploadRanged(u: RangedUpload): Promise<void> {
  const size = u.source.size;
  const partSize = Math.max(u.partSize, Math.ceil(size / MAX_PARTS));
  const sent = new Map<number, number>();
  let reported = 0;
  const progress = (part: number, bytes: number) => {
    sent.set(part, bytes);
    let total = 0;
    for (const n of sent.values()) total += n;
    if (total !== reported) {
      reported = total;
      u.onProgress?.(total);
    }
  };
  /**
   * Sends one request whose body is bytes [start, end) of the source, retried by opening
   * the range again. A failing source aborts the request (the SDK would otherwise wait for
   * the missing bytes until its timeout) and is the error, never retried.
   */
  const send = <T>(
    part: number,
    start: number,
    end: number,
    signal: AbortSignal,
    request: (body: Readable, abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> =>
    retrying({ maxAttempts: u.maxAttempts, signal }, async () => {
      const attempt = new AbortController();
      const onStop = () => attempt.abort(signal.reason);
      if (signal.aborted) onStop();
      signal.addEventListener('abort', onStop, { once: true });
      let sourceError: { error: unknown } | undefined;
      progress(part, 0);
      let n = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          n += chunk.length;
          progress(part, n);
          done(null, chunk);
        },
      });
      const source = u.source.open(start, end);
      source.on('error', (error: unknown) => {
        if (counter.destroyed) return; // the request ended first; its own error counts
        sourceError = { error };
        attempt.abort(error);
      });
      counter.on('close', () => source.destroy());
      try {
        return await request(source.pipe(counter), attempt.signal);
      } catch (err) {
        throw sourceError ? new SourceFailed(sourceError.error) : err;
      } finally {
        signal.removeEventListener('abort', onStop);
        counter.destroy();
      }
    });

  if (size <= partSize) {
    await commit(u);
    await send(0, 0, size, u.signal, (body, abortSignal) =>
      u.dataClient.send(
        new PutObjectCommand({
          Bucket: u.bucket,
          Key: u.key,
          Body: body,
          ContentLength: size,
          ContentType: 'application/octet-stream',
        }),
        { abortSignal },
      ),
    );
    return;
  }

  // Create and Complete are not cancelled by the signal: a cancelled Create may still have
  // created the upload on the server, and we would not know its id to abort it; a Complete is
  // only sent once the caller agreed to commit, and is seen through.
  if (u.signal.aborted) throw u.signal.reason;
  const created = await u.controlClient.send(
    new CreateMultipartUploadCommand({ Bucket: u.bucket, Key: u.key, ContentType: 'application/octet-stream' }),
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error(`CreateMultipartUpload for ${u.key} returned no upload id`);
  // Our own stop signal, so one failed part cancels the others at once.
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(u.signal.reason);
  if (u.signal.aborted) onOuterAbort();
  u.signal.addEventListener('abort', onOuterAbort, { once: true });
  const count = Math.ceil(size / partSize);
  const parts: CompletedPart[] = new Array<CompletedPart>(count);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < count) {
      const i = next++;
      const start = i * partSize;
      const end = Math.min(size, start + partSize);
      try {
        const res = await send(i, start, end, stop.signal, (body, abortSignal) =>
          u.dataClient.send(
            new UploadPartCommand({
              Bucket: u.bucket,
              Key: u.key,
              UploadId: uploadId,
              PartNumber: i + 1,
              Body: body,
              ContentLength: end - start,
            }),
            { abortSignal },
          ),
        );
        parts[i] = { PartNumber: i + 1, ETag: res.ETag };
      } catch (err) {
        failure ??= { error: err };
        stop.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(u.queueSize, count) }, worker));
    if (failure) throw failure.error;
    if (u.signal.aborted) throw u.signal.reason;
    await commit(u);
    await u.controlClient.send(
      new CompleteMultipartUploadCommand({
        Bucket: u.bucket,
        Key: u.key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
  } catch (err) {
    stop.abort(err);
    try {
      // Not tied to the caller's signal: the parts must go even when the caller gave up.
      await u.controlClient.send(new AbortMultipartUploadCommand({ Bucket: u.bucket, Key: u.key, UploadId: uploadId }));
    } catch (abortErr) {
      u.onAbortFailure?.(abortErr, uploadId);
    }
    throw err;
  } finally {
    u.signal.removeEventListener('abort', onOuterAbort);
  }
}

async function commit(u: RangedUpload): Promise<void> {
  if (!u.beforeCommit) return;
  try {
    await u.beforeCommit();
  } catch (err) {
    throw new CommitRefused(err);
  }
}

interface ErrorLike {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}

function retryable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as ErrorLike & Parameters<typeof isTransientError>[0];
  if (e.name === 'AbortError' || err instanceof SourceFailed) return false;
  return isTransientError(e) || isThrottlingError(e) || isServerError(e) || isClockSkewError(e);
}

async function retrying<T>(u: Pick<RangedUpload, 'maxAttempts' | 'signal'>, send: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      if (u.signal.aborted || attempt >= u.maxAttempts || !retryable(err)) throw err;
      const base = isThrottlingError(err as Parameters<typeof isThrottlingError>[0]) ? 500 : 100;
      const ms = Math.random() * Math.min(20_000, base * 2 ** (attempt - 1));
      await sleep(ms, u.signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
