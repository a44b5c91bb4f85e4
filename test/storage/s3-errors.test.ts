import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import type { S3Config } from '../../src/config/types.js';
import { classifyS3Error } from '../../src/storage/s3/errors.js';

// Pure classification of the error shapes the SDK produces. The common ones are also
// produced by the real server in s3.test.ts (wrong secret, unknown key, missing bucket,
// clock skew, refused connection, resets, timeouts); region errors and TLS failures come
// only from set-ups the local server does not have (AWS regions, https), so they are built here.
const CONFIG: S3Config = {
  url: 'https://s3.example.com',
  bucket: 'b',
  region: 'r',
  pathStyle: true,
  key: 'AKIAKEYID',
  secret: 'the-secret-xyz',
  prefix: '',
};
const sdkError = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name}: something about the-secret-xyz`), {
    name,
    ...(status ? { $metadata: { httpStatusCode: status } } : {}),
    ...extra,
  });

test('SDK failures map to what an operator can act on, without the secret', () => {
  const cases: ReadonlyArray<readonly [Error, string, RegExp]> = [
    [sdkError('RequestTimeTooSkewed', 403), 'S3_CLOCK_SKEW', /clock/],
    [sdkError('SignatureDoesNotMatch', 403), 'S3_AUTH', /SignatureDoesNotMatch/],
    [sdkError('InvalidAccessKeyId', 403), 'S3_AUTH', /InvalidAccessKeyId/],
    [sdkError('Unknown', 403), 'S3_AUTH', /HTTP 403/],
    [sdkError('NoSuchBucket', 404), 'S3_NO_BUCKET', /bucket "b" does not exist/],
    [sdkError('NoSuchKey', 404), 'NOT_FOUND', /no object "x\.sqlite"/],
    [
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      'S3_UNREACHABLE',
      /cannot reach https:\/\/s3\.example\.com/,
    ],
    [Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), 'S3_UNREACHABLE', /ENOTFOUND/],
    [sdkError('InternalError', 500), 'S3_ERROR', /HTTP 500/],
    [sdkError('AuthorizationHeaderMalformed', 400), 'S3_REGION', /another region than "r"/],
    [sdkError('PermanentRedirect', 301), 'S3_REGION', /PermanentRedirect/],
    [sdkError('NotFound', 404), 'NOT_FOUND', /no object "x\.sqlite"/],
    // The SDK names socket failures TimeoutError whatever they are; the code tells them apart.
    [
      sdkError('TimeoutError', undefined, { code: 'ECONNRESET' }),
      'S3_UNREACHABLE',
      /connection to https:\/\/s3\.example\.com was lost/,
    ],
    [sdkError('TimeoutError', undefined, { code: 'ETIMEDOUT' }), 'S3_TIMEOUT', /timed out/],
    [
      Object.assign(new Error('Socket timed out without establishing a connection within 10000 ms'), {
        name: 'TimeoutError',
      }),
      'S3_UNREACHABLE',
      /cannot reach/,
    ],
    [
      Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      'S3_UNREACHABLE',
      /TLS with https:\/\/s3\.example\.com failed/,
    ],
    [Object.assign(new Error('Part 3 is missing ETag in UploadPart response'), {}), 'S3_ERROR', /missing ETag/],
  ];
  for (const [err, code, re] of cases) {
    const out = classifyS3Error(err, CONFIG, 'upload', 'x.sqlite');
    assert.equal(out.code, code, err.name);
    assert.match(out.message, re);
    assert.ok(!`${out.message}${out.hint}`.includes('the-secret-xyz'), `secret in ${out.code}`);
    assert.ok(!inspect(out, { depth: 5 }).includes('the-secret-xyz'), `secret in the cause of ${out.code}`);
    assert.ok(out.hint && out.hint.length > 10);
  }
});

test('the cause keeps what helps (name, code, status, request id) and drops SDK fields that carry the key', () => {
  const err = Object.assign(new Error('The request signature we calculated does not match'), {
    name: 'SignatureDoesNotMatch',
    $metadata: { httpStatusCode: 403, requestId: 'req-1' },
    AWSAccessKeyId: 'AKIAKEYID',
    StringToSign: 'AWS4-HMAC-SHA256 ... the-secret-xyz',
  });
  const out = classifyS3Error(err, CONFIG, 'list');
  assert.equal(out.code, 'S3_AUTH');
  const cause = out.cause as Error & { statusCode?: number; requestId?: string };
  assert.equal(cause.name, 'SignatureDoesNotMatch');
  assert.equal(cause.statusCode, 403);
  assert.equal(cause.requestId, 'req-1');
  const shown = inspect(out, { depth: 10, showHidden: true }) + JSON.stringify(out);
  assert.ok(!shown.includes('AKIAKEYID') && !shown.includes('the-secret-xyz'));
});
