import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { isClockSkewError, isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { transferEnded } from '../../memory.js';
import type { RangeSource } from '../store.js';
import { watchStall } from './deadline.js';
import { errorFacts } from './errors.js';

/**
 * A staged upload of a RangeSource. Parts go up as soon as it is staged, streamed from the
 * source as they are sent (memory stays at a few read buffers per part in flight, whatever
 * the part size), each retried by opening its range again; CompleteMultipartUpload waits for
 * `commit()`. An object that fits in one part waits for `commit()` entirely and goes up as
 * one PutObject: nothing of it exists on the server before.
 *
 * The SDK does not retry a request whose body is a stream (it cannot rewind it; it only warns
 * "non-retryable streaming request"), so the requests that carry data go through a client
 * with maxAttempts 1 and this module retries them itself, with the SDK's own error
 * classification and a backoff like its own (full jitter, 100 ms base, 500 ms for throttling,
 * 20 s cap). Small control requests use the normal client, each within a deadline.
 *
 * A request that carries data has no deadline, so a large part on a slow link is never cut
 * off; it fails when none of its bytes moved for `stallMs`, counted across its retries (a part
 * whose server stopped answering is not sent again once that time is spent).
 */

/** S3's limit on the number of parts in one multipart upload. */
export const MAX_PARTS = 10_000;

export interface UploadSpec {
  /** Client for requests with a body; maxAttempts 1 (see above). */
  readonly dataClient: S3Client;
  /** Client for CreateMultipartUpload, CompleteMultipartUpload, AbortMultipartUpload. */
  readonly controlClient: S3Client;
  /**
   * Runs one control request within its deadline (the store's, times `scale`), passing the
   * signal the request must be sent with; rejects with an error named TimeoutError at the
   * deadline, AbortError when the store closes.
   */
  readonly control: <T>(what: string, call: (abortSignal: AbortSignal) => Promise<T>, scale?: number) => Promise<T>;
  /** A data request fails once none of its bytes moved for this long, retries included. */
  readonly stallMs: number;
  readonly bucket: string;
  readonly key: string;
  readonly source: RangeSource;
  readonly partSize: number;
  readonly queueSize: number;
  readonly maxAttempts: number;
  /** The caller's signal: stops the upload as abort() does. */
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((bytes: number) => void) | undefined;
  /** S3 user metadata (x-amz-meta-*) of the object. */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
  /** Called when a multipart upload could not be aborted; its parts stay until a lifecycle rule removes them. */
  readonly onAbortFailure?: ((err: unknown, uploadId: string) => void) | undefined;
}

/** The source failed while a request was reading it; `reason` is its error. */
export class SourceFailed extends Error {
  override readonly name = 'SourceFailed';
  constructor(readonly reason: unknown) {
    super('the source of the upload failed');
  }
}

/** Stopped by abort() or the caller's signal; `reason` says why. */
export class UploadStopped extends Error {
  override readonly name = 'UploadStopped';
  constructor(readonly reason: unknown) {
    super('the upload was stopped');
  }
}

export interface StagedUpload {
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export function stageUpload(u: UploadSpec): StagedUpload {
  const size = u.source.size;
  const partSize = Math.max(u.partSize, Math.ceil(size / MAX_PARTS));
  // Aborted by the caller (abort(), the signal) or by a part that failed for good.
  const stop = new AbortController();
  let byCaller = false;
  const onOuterAbort = () => {
    byCaller = true;
    stop.abort(u.signal?.reason);
  };
  if (u.signal?.aborted) onOuterAbort();
  else u.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const progress = progressOf(u.onProgress);
  const stopped = () => new UploadStopped(stop.signal.reason);

  let uploadId: string | undefined;
  /** The multipart upload was completed or aborted on the server: nothing more to clean up. */
  let settledRemotely = false;
  let ended = false;
  const abortRemote = async (): Promise<void> => {
    if (uploadId === undefined || settledRemotely) return;
    settledRemotely = true;
    const id = uploadId;
    try {
      // Not tied to the caller's signal: the parts must go even when the caller gave up.
      await u.control('AbortMultipartUpload', (abortSignal) =>
        u.controlClient.send(new AbortMultipartUploadCommand({ Bucket: u.bucket, Key: u.key, UploadId: id }), {
          abortSignal,
        }),
      );
    } catch (err) {
      u.onAbortFailure?.(err, uploadId);
    }
  };

  const single = size <= partSize;
  const transfer: Promise<CompletedPart[]> = single
    ? Promise.resolve([])
    : (async () => {
        // Create is not cancelled by the caller's signal: a cancelled Create may still have
        // created the upload on the server, and without its id it could not be aborted. Only
        // its deadline cuts it off; an upload created unseen then is removed later as a
        // leftover (S3Store.removeLeftovers).
        const created = await u.control('CreateMultipartUpload', (abortSignal) =>
          u.controlClient.send(
            new CreateMultipartUploadCommand({
              Bucket: u.bucket,
              Key: u.key,
              ContentType: 'application/octet-stream',
              ...(u.metadata ? { Metadata: { ...u.metadata } } : {}),
            }),
            { abortSignal },
          ),
        );
        uploadId = created.UploadId;
        if (!uploadId) throw new Error(`CreateMultipartUpload for ${u.key} returned no upload id`);
        const id = uploadId;
        if (stop.signal.aborted) throw stopped();
        const count = Math.ceil(size / partSize);
        const parts = new Array<CompletedPart>(count);
        let next = 0;
        let failure: { error: unknown } | undefined;
        const worker = async (): Promise<void> => {
          while (!failure && !stop.signal.aborted && next < count) {
            const i = next++;
            const start = i * partSize;
            const end = Math.min(size, start + partSize);
            try {
              const res = await sendRange(u, progress, i, start, end, stop.signal, (body, abortSignal) =>
                u.dataClient.send(
                  new UploadPartCommand({
                    Bucket: u.bucket,
                    Key: u.key,
                    UploadId: id,
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
              stop.abort(err); // the other parts in flight are cancelled rather than finished in vain
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(u.queueSize, count) }, worker));
        if (failure && !(failure.error instanceof UploadStopped)) throw failure.error;
        if (stop.signal.aborted) throw stopped();
        return parts;
      })();
  // A transfer that fails cleans up at once, whether or not commit() or abort() ever come.
  const transferred = transfer.catch(async (err: unknown) => {
    stop.abort(err);
    await abortRemote();
    throw err;
  });
  transferred.catch(() => undefined);

  const end = () => {
    ended = true;
    u.signal?.removeEventListener('abort', onOuterAbort);
    transferEnded();
  };

  return {
    async commit() {
      if (ended) throw new Error(`the upload of ${u.key} has already ended`);
      try {
        const parts = await transferred;
        if (stop.signal.aborted) throw stopped();
        if (single) {
          await sendRange(u, progress, 0, 0, size, stop.signal, (body, abortSignal) =>
            u.dataClient.send(
              new PutObjectCommand({
                Bucket: u.bucket,
                Key: u.key,
                Body: body,
                ContentLength: size,
                ContentType: 'application/octet-stream',
                ...(u.metadata ? { Metadata: { ...u.metadata } } : {}),
              }),
              { abortSignal },
            ),
          );
          return;
        }
        try {
          // Not cancelled by the caller either: once sent, a Complete is seen through. A server
          // may take a while to assemble thousands of parts: one deadline per 1000 parts.
          await u.control(
            'CompleteMultipartUpload',
            (abortSignal) =>
              u.controlClient.send(
                new CompleteMultipartUploadCommand({
                  Bucket: u.bucket,
                  Key: u.key,
                  UploadId: uploadId,
                  MultipartUpload: { Parts: parts },
                }),
                { abortSignal },
              ),
            Math.max(1, Math.ceil(parts.length / 1000)),
          );
          settledRemotely = true;
        } catch (err) {
          if (await completedAfterAll(u, err, parts, size)) {
            settledRemotely = true;
            return;
          }
          await abortRemote();
          throw err;
        }
      } catch (err) {
        if (byCaller && !(err instanceof SourceFailed)) throw err instanceof UploadStopped ? err : stopped();
        throw err;
      } finally {
        end();
      }
    },
    async abort() {
      byCaller = true;
      if (!stop.signal.aborted) stop.abort(new Error('aborted by the caller'));
      await transferred.catch(() => undefined);
      await abortRemote();
      end();
    },
  };
}

/**
 * Whether a Complete that failed with NoSuchUpload was in fact applied: the SDK retries a
 * Complete whose answer was lost (a connection dropped as the server answered), and the server,
 * having completed the upload, no longer knows it. The object then has exactly these parts: its
 * size, and S3's multipart ETag (the MD5 of the parts' MD5s, "-" and their count), which no
 * other upload of other bytes can have. A server whose part ETags are not MD5s fails the check:
 * the error stands, as before.
 */
async function completedAfterAll(
  u: UploadSpec,
  err: unknown,
  parts: readonly CompletedPart[],
  size: number,
): Promise<boolean> {
  const { name, code, status } = errorFacts(err);
  if (name !== 'NoSuchUpload' && code !== 'NoSuchUpload' && status !== 404) return false;
  const md5s = parts.map((p) => Buffer.from(bareEtag(p.ETag), 'hex'));
  if (md5s.some((m) => m.length !== 16)) return false;
  const expected = `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${parts.length}`;
  try {
    const head = await u.control('HeadObject', (abortSignal) =>
      u.controlClient.send(new HeadObjectCommand({ Bucket: u.bucket, Key: u.key }), { abortSignal }),
    );
    return head.ContentLength === size && bareEtag(head.ETag) === expected;
  } catch {
    return false;
  }
}

/** An ETag as S3 answers it (quoted), without its quotes; '' for none. */
export function bareEtag(raw: string | undefined): string {
  return raw?.replace(/^"(.*)"$/, '$1') ?? '';
}

/** Sums the bytes sent of every part into one running total (a retried part starts again from 0). */
function progressOf(report: ((bytes: number) => void) | undefined): (part: number, bytes: number) => void {
  const sent = new Map<number, number>();
  let reported = 0;
  return (part, bytes) => {
    sent.set(part, bytes);
    let total = 0;
    for (const n of sent.values()) total += n;
    if (total !== reported) {
      reported = total;
      report?.(total);
    }
  };
}

/**
 * Sends one request whose body is bytes [start, end) of the source, retried by opening the
 * range again. A failing source aborts the request (the SDK would otherwise wait for the
 * missing bytes until its timeout) and is the error, never retried.
 */
function sendRange<T>(
  u: UploadSpec,
  progress: (part: number, bytes: number) => void,
  part: number,
  start: number,
  end: number,
  signal: AbortSignal,
  request: (body: Readable, abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  // When a byte of this range last went out (or the first attempt began): the stall clock.
  let lastMoved = performance.now();
  const stillMoving = (delayMs: number) => performance.now() + delayMs - lastMoved < u.stallMs;
  return retrying(u.maxAttempts, signal, stillMoving, async () => {
    const attempt = new AbortController();
    const onStop = () => attempt.abort(signal.reason);
    if (signal.aborted) onStop();
    signal.addEventListener('abort', onStop, { once: true });
    const stall = watchStall(
      () => lastMoved,
      u.stallMs,
      `part ${part + 1}`,
      (err) => attempt.abort(err),
    );
    let sourceError: { error: unknown } | undefined;
    progress(part, 0);
    let n = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        n += chunk.length;
        lastMoved = performance.now();
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
      if (sourceError) throw new SourceFailed(sourceError.error);
      if (signal.aborted) throw new UploadStopped(signal.reason);
      if (stall.error) throw stall.error;
      throw err;
    } finally {
      stall.stop();
      signal.removeEventListener('abort', onStop);
      counter.destroy();
    }
  });
}

interface ErrorLike {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}

function retryable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if (err instanceof SourceFailed || err instanceof UploadStopped) return false;
  const e = err as ErrorLike & Parameters<typeof isTransientError>[0];
  if (e.name === 'AbortError') return false;
  return isTransientError(e) || isThrottlingError(e) || isServerError(e) || isClockSkewError(e);
}

/** Sends, and again after a retryable failure while attempts are left and `mayWait(backoff)` allows it. */
async function retrying<T>(
  maxAttempts: number,
  signal: AbortSignal,
  mayWait: (delayMs: number) => boolean,
  send: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      if (signal.aborted || attempt >= maxAttempts || !retryable(err)) throw err;
      const base = isThrottlingError(err as Parameters<typeof isThrottlingError>[0]) ? 500 : 100;
      const delay = Math.random() * Math.min(20_000, base * 2 ** (attempt - 1));
      if (!mayWait(delay)) throw err;
      await sleep(delay, signal);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new UploadStopped(signal.reason));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new UploadStopped(signal.reason));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
