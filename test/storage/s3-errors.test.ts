import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { S3Config } from '../../src/config/types.js';
import { classifyS3Error } from '../../src/storage/s3.js';

// Pure classification of SDK errors. Clock skew cannot be produced on demand by a real
// server here (the SDK also corrects small offsets itself), so these errors are built by hand.
const CONFIG: S3Config = { url: 'https://s3.example.com', bucket: 'b', region: 'r', pathStyle: true, key: 'AKIAKEYID', secret: 'the-secret-xyz', prefix: '' };
const sdkError = (name: string, status?: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name}: something about the-secret-xyz`), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}), ...extra });

test('SDK failures map to what an operator can act on, without the secret', () => {
  const cases: ReadonlyArray<readonly [Error, string, RegExp]> = [
    [sdkError('RequestTimeTooSkewed', 403), 'S3_CLOCK_SKEW', /clock/],
    [sdkError('SignatureDoesNotMatch', 403), 'S3_AUTH', /SignatureDoesNotMatch/],
    [sdkError('InvalidAccessKeyId', 403), 'S3_AUTH', /InvalidAccessKeyId/],
    [sdkError('Unknown', 403), 'S3_AUTH', /HTTP 403/],
    [sdkError('NoSuchBucket', 404), 'S3_NO_BUCKET', /bucket "b" does not exist/],
    [sdkError('NoSuchKey', 404), 'NOT_FOUND', /no object "x\.sqlite"/],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'S3_UNREACHABLE', /cannot reach https:\/\/s3\.example\.com/],
    [Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), 'S3_UNREACHABLE', /ENOTFOUND/],
    [sdkError('InternalError', 500), 'S3_ERROR', /HTTP 500/],
  ];
  for (const [err, code, re] of cases) {
    const out = classifyS3Error(err, CONFIG, 'upload', 'x.sqlite');
    assert.equal(out.code, code, err.name);
    assert.match(out.message, re);
    assert.ok(!`${out.message}${out.hint}`.includes('the-secret-xyz'), `secret in ${out.code}`);
    assert.ok(out.hint && out.hint.length > 10);
  }
});
