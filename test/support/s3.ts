/**
 * The S3 server the tests use, in order of preference:
 *
 * 1. Conformance mode (`npm run test:s3`), for users checking their own MinIO / Garage /
 *    AWS / … set-up: LIFEBOAT_S3_CONFORMANCE=1 and HQL_S3_URL, HQL_S3_BUCKET,
 *    HQL_S3_REGION, HQL_S3_KEY and HQL_S3_SECRET all set (HQL_S3_PATH_STYLE and
 *    HQL_S3_PREFIX optional, as for Lifeboat itself). The user's endpoint and bucket are
 *    used; no bucket is created. Every `place()` is a unique key prefix
 *    (`{HQL_S3_PREFIX}lifeboat-conformance-{time}-{random}/`) whose objects and unfinished
 *    multipart uploads are removed after the test file. Tests that need what only the local
 *    server offers (a bucket of their own, the fault proxy, virtual-host names) check
 *    `conformance` and skip.
 * 2. A radosgw already running, started once by test/support/with-s3.ts for a whole
 *    `npm test` run and shared by all test files (LIFEBOAT_TEST_S3_ENDPOINT, _ACCESS_KEY,
 *    _SECRET_KEY, _REGION).
 * 3. Otherwise a private radosgw for this test process (running one file by hand), stopped
 *    when the process exits.
 *
 * Each `place()` / `createBucket()` is a fresh bucket with a unique name. Buckets (and
 * conformance prefixes) are emptied and removed when the test file's tests have finished.
 */

import { randomBytes } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns';
import { Agent } from 'node:http';
import type { LookupFunction } from 'node:net';
import { after, test } from 'node:test';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import type { S3Config } from '../../src/config/types.js';
import { startRadosGw } from './radosgw.js';

export interface TestS3 {
  readonly endpoint: string;
  readonly region: string;
  readonly accessKey: string;
  readonly secretKey: string;
  /** True when the tests run against the user's own S3 (see above). */
  readonly conformance: boolean;
  /**
   * An S3Config for this server and its test user. Without overrides the bucket is the
   * user's bucket in conformance mode and '' otherwise (pass `{ bucket }`).
   */
  config(overrides?: Partial<S3Config>): S3Config;
  /** A new, empty bucket, removed after this file's tests. Not in conformance mode. */
  createBucket(): Promise<string>;
  /** A fresh, empty place: a new bucket (or a unique prefix in conformance mode). */
  place(): Promise<S3Config>;
  /** A plain SDK client for set-up and inspection (listing uploads, writing foreign objects). */
  client(): S3Client;
  /**
   * Virtual-host-style access to the local radosgw: `http://localhost:PORT` plus an HTTP
   * agent that resolves `<bucket>.localhost` to 127.0.0.1 (there is no wildcard DNS here).
   * `lookedUp` records the host names requests went to. Undefined in conformance mode.
   */
  virtualHost(): { url: string; agent: Agent; lookedUp: string[] } | undefined;
}

interface Base {
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
}

/** Whether the tests run against the local radosgw (not the user's own S3 in conformance mode). */
export const onLocalServer = process.env.LIFEBOAT_S3_CONFORMANCE !== '1';
/** A test that needs the local server (its fault proxy, its ETag form, its clock): skipped in conformance mode. */
export const localTest = onLocalServer ? test : test.skip;

let shared: Promise<TestS3> | undefined;

// Clean-up runs in one hook of the file's root, registered here at import time. A hook
// registered from inside a test after an `await` (where place() runs) is attached by
// node:test to whatever async context is current, which is not reliably that test, and
// then may never run.
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  const failures: unknown[] = [];
  for (const clean of cleanups.splice(0)) await clean().catch((err: unknown) => failures.push(err));
  if (failures.length) throw new AggregateError(failures, `could not clean up ${failures.length} S3 test place(s)`);
});

export function getTestS3(): Promise<TestS3> {
  shared ??= create();
  return shared;
}

const CONFORMANCE_VARS = ['HQL_S3_URL', 'HQL_S3_BUCKET', 'HQL_S3_REGION', 'HQL_S3_KEY', 'HQL_S3_SECRET'] as const;

async function create(): Promise<TestS3> {
  const env = process.env;
  if (env.LIFEBOAT_S3_CONFORMANCE === '1') {
    const missing = CONFORMANCE_VARS.filter((v) => !env[v]);
    if (missing.length)
      throw new Error(
        `LIFEBOAT_S3_CONFORMANCE=1 needs ${missing.join(', ')} set to your S3 endpoint, bucket, region and credentials`,
      );
    const base: Base = {
      endpoint: env.HQL_S3_URL!,
      region: env.HQL_S3_REGION!,
      accessKey: env.HQL_S3_KEY!,
      secretKey: env.HQL_S3_SECRET!,
    };
    return conformanceS3(base, env.HQL_S3_BUCKET!, env.HQL_S3_PATH_STYLE !== 'false', env.HQL_S3_PREFIX ?? '');
  }
  if (env.LIFEBOAT_TEST_S3_ENDPOINT && env.LIFEBOAT_TEST_S3_ACCESS_KEY && env.LIFEBOAT_TEST_S3_SECRET_KEY) {
    return localS3({
      endpoint: env.LIFEBOAT_TEST_S3_ENDPOINT,
      region: env.LIFEBOAT_TEST_S3_REGION ?? 'us-east-1',
      accessKey: env.LIFEBOAT_TEST_S3_ACCESS_KEY,
      secretKey: env.LIFEBOAT_TEST_S3_SECRET_KEY,
    });
  }
  // Stopped by the harness's exit hook (and its watchdog) when this process ends.
  return localS3(await startRadosGw());
}

function sdkClient(base: Base, pathStyle: boolean): S3Client {
  return new S3Client({
    endpoint: base.endpoint,
    region: base.region,
    forcePathStyle: pathStyle,
    credentials: { accessKeyId: base.accessKey, secretAccessKey: base.secretKey },
    maxAttempts: 3,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

function localS3(base: Base): TestS3 {
  const client = sdkClient(base, true);
  const config = (overrides: Partial<S3Config> = {}): S3Config => ({
    url: base.endpoint,
    bucket: '',
    region: base.region,
    pathStyle: true,
    key: base.accessKey,
    secret: base.secretKey,
    prefix: '',
    ...overrides,
  });
  const createBucket = async (): Promise<string> => {
    const bucket = `lifeboat-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    cleanups.push(async () => {
      await emptyPlace(client, bucket, '');
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    });
    return bucket;
  };
  return {
    ...base,
    conformance: false,
    config,
    createBucket,
    place: async () => config({ bucket: await createBucket() }),
    client: () => client,
    virtualHost: () => {
      const { port } = new URL(base.endpoint);
      const lookedUp: string[] = [];
      const lookup: LookupFunction = (hostname, options, callback) => {
        lookedUp.push(hostname);
        localhostLookup(hostname, options, callback);
      };
      return { url: `http://localhost:${port}`, agent: new Agent({ keepAlive: true, lookup }), lookedUp };
    },
  };
}

function conformanceS3(base: Base, bucket: string, pathStyle: boolean, basePrefix: string): TestS3 {
  const client = sdkClient(base, pathStyle);
  const config = (overrides: Partial<S3Config> = {}): S3Config => ({
    url: base.endpoint,
    bucket,
    region: base.region,
    pathStyle,
    key: base.accessKey,
    secret: base.secretKey,
    prefix: basePrefix,
    ...overrides,
  });
  return {
    ...base,
    conformance: true,
    config,
    createBucket: () =>
      Promise.reject(new Error('conformance mode never creates buckets; use place() (a unique prefix in your bucket)')),
    place: async () => {
      const prefix = `${basePrefix}lifeboat-conformance-${Date.now()}-${randomBytes(4).toString('hex')}/`;
      cleanups.push(() => emptyPlace(client, bucket, prefix));
      return config({ prefix });
    },
    client: () => client,
    virtualHost: () => undefined,
  };
}

/** Removes every object and unfinished multipart upload under `prefix`. */
async function emptyPlace(client: S3Client, bucket: string, prefix: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token }),
    );
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (keys.length)
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix || undefined }));
  for (const u of uploads.Uploads ?? []) {
    if (u.Key && u.UploadId)
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  }
}

/** `localhost` and `*.localhost` → 127.0.0.1 (RFC 6761 reserves them for loopback); the rest via DNS. */
const localhostLookup: LookupFunction = (hostname, options, callback) => {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
    if (options.all)
      (callback as unknown as (err: null, addresses: Array<{ address: string; family: number }>) => void)(null, [
        { address: '127.0.0.1', family: 4 },
      ]);
    else callback(null, '127.0.0.1', 4);
    return;
  }
  dnsLookup(hostname, options, callback);
};

/** The HQL_* variables that point Lifeboat at a test S3 place (as an operator would set them). */
export function s3Env(config: S3Config): Record<string, string | undefined> {
  return {
    HQL_S3_URL: config.url,
    HQL_S3_BUCKET: config.bucket,
    HQL_S3_REGION: config.region,
    HQL_S3_KEY: config.key,
    HQL_S3_SECRET: config.secret,
    HQL_S3_PREFIX: config.prefix || undefined,
    HQL_S3_PATH_STYLE: config.pathStyle ? undefined : 'false',
  };
}
