import type { S3Config } from '../../config/types.js';
import { LifeboatError } from '../../errors.js';

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

export function errorFacts(err: unknown): {
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

function redact(text: string, config: S3Config): string {
  let out = text;
  for (const s of [config.secret, config.key]) if (s) out = out.split(s).join('***');
  return out;
}

/**
 * What is kept of an SDK error as the `cause`: name, code, status, request id and the
 * redacted message. SDK errors carry extra fields (e.g. AWSAccessKeyId and StringToSign on
 * SignatureDoesNotMatch) that must not reach logs through a serialised cause.
 */
export function sanitize(err: unknown, config: S3Config): Error {
  const { name, status, code, requestId } = errorFacts(err);
  const raw = err instanceof Error ? err.message : String(err);
  return Object.assign(new Error(redact(raw, config)), {
    name,
    ...(code ? { code } : {}),
    ...(status ? { statusCode: status } : {}),
    ...(requestId ? { requestId } : {}),
  });
}

/** A conditional write found the object there already (HTTP 412 on `If-None-Match: *`). */
export function isPreconditionFailed(err: unknown): boolean {
  const { name, status } = errorFacts(err);
  return name === 'PreconditionFailed' || status === 412;
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
    const why = name === 'Unknown' || name === 'Error' ? `HTTP ${status}` : name;
    return new LifeboatError('S3_AUTH', `S3 ${what} failed at ${where}: the credentials were rejected (${why})`, {
      hint:
        'check cluster.s3_key / s3_secret (HQL_S3_KEY, HQL_S3_SECRET) ' +
        'and that the key may read and write this bucket',
      cause,
    });
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
        'check that cluster.s3_url (HQL_S3_URL) names the right ' +
          'scheme and host; for a private CA set NODE_EXTRA_CA_CERTS',
      );
    }
    if (code && DROPPED_CODES.has(code)) {
      return unreachable(
        `the connection to ${config.url} was lost (${code}: ${detail})`,
        'check the network and the S3 server (HQL_S3_URL); the request was retried before giving up',
      );
    }
    if (code === 'ETIMEDOUT' || name === 'TimeoutError') {
      return new LifeboatError('S3_TIMEOUT', `S3 ${what} at ${where} timed out: ${detail}`, {
        hint:
          'the server or the network is too slow or stuck; check the S3 server and the link to it (HQL_S3_URL); ' +
          'the request was retried until cluster.s3_timeout (HQL_S3_TIMEOUT) passed without progress',
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
