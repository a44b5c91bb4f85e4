import { CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import type { S3Config } from '../../src/config/types.js';
import { startRadosGw } from './radosgw.js';

/**
 * The S3 server the tests use. In order of preference:
 * 1. Conformance mode (`npm run test:s3`): LIFEBOAT_S3_CONFORMANCE=1 and HQL_S3_URL/BUCKET/
 *    REGION/KEY/SECRET set — the user's own endpoint and bucket; every test works under a
 *    unique prefix and removes its objects afterwards.
 * 2. A radosgw already started by test/support/with-s3.ts (LIFEBOAT_TEST_S3_* variables),
 *    shared by all test files of one `npm test` run.
 * 3. A private radosgw for this test process (running one test file by hand).
 */
export interface TestS3 {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly conformance: boolean;
  /** A fresh, empty place: a new bucket (or a unique prefix in conformance mode). */
  place(): Promise<S3Config>;
  client(): S3Client;
}

let shared: Promise<TestS3> | undefined;

export function getTestS3(): Promise<TestS3> {
  shared ??= create();
  return shared;
}

async function create(): Promise<TestS3> {
  const env = process.env;
  if (env.LIFEBOAT_S3_CONFORMANCE === '1' && env.HQL_S3_URL && env.HQL_S3_BUCKET && env.HQL_S3_KEY && env.HQL_S3_SECRET) {
    const base = { endpoint: env.HQL_S3_URL, region: env.HQL_S3_REGION ?? 'us-east-1', accessKey: env.HQL_S3_KEY, secretKey: env.HQL_S3_SECRET };
    const bucket = env.HQL_S3_BUCKET;
    const pathStyle = env.HQL_S3_PATH_STYLE !== 'false';
    return build(base, true, async (client) => {
      const prefix = `lifeboat-conformance-${Date.now()}-${randomBytes(4).toString('hex')}/`;
      after(() => emptyPrefix(client, bucket, prefix));
      return { bucket, prefix, pathStyle };
    });
  }
  let base: { endpoint: string; region: string; accessKey: string; secretKey: string };
  if (env.LIFEBOAT_TEST_S3_ENDPOINT && env.LIFEBOAT_TEST_S3_ACCESS_KEY && env.LIFEBOAT_TEST_S3_SECRET_KEY) {
    base = { endpoint: env.LIFEBOAT_TEST_S3_ENDPOINT, region: env.LIFEBOAT_TEST_S3_REGION ?? 'us-east-1', accessKey: env.LIFEBOAT_TEST_S3_ACCESS_KEY, secretKey: env.LIFEBOAT_TEST_S3_SECRET_KEY };
  } else {
    // Stopped by the harness's own exit handler when this test process ends.
    base = await startRadosGw();
  }
  return build(base, false, async (client) => {
    const bucket = `lifeboat-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    return { bucket, prefix: '', pathStyle: true };
  });
}

function build(
  base: { endpoint: string; region: string; accessKey: string; secretKey: string },
  conformance: boolean,
  makePlace: (client: S3Client) => Promise<{ bucket: string; prefix: string; pathStyle: boolean }>,
): TestS3 {
  const client = () =>
    new S3Client({
      endpoint: base.endpoint,
      region: base.region,
      forcePathStyle: true,
      credentials: { accessKeyId: base.accessKey, secretAccessKey: base.secretKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  return {
    ...base,
    conformance,
    client,
    async place() {
      const p = await makePlace(client());
      return { url: base.endpoint, bucket: p.bucket, region: base.region, pathStyle: p.pathStyle, key: base.accessKey, secret: base.secretKey, prefix: p.prefix };
    },
  };
}

async function emptyPrefix(client: S3Client, bucket: string, prefix: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (keys.length) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** The HQL_* variables that point Lifeboat at a test S3 place (as an operator would set them). */
export function s3Env(config: S3Config): Record<string, string | undefined> {
  return {
    HQL_S3_URL: config.url,
    HQL_S3_BUCKET: config.bucket,
    HQL_S3_REGION: config.region,
    HQL_S3_KEY: config.key,
    HQL_S3_SECRET: config.secret,
    HQL_S3_PREFIX: config.prefix || undefined,
  };
}
