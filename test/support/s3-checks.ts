/**
 * What S3 tests check after a put: dangling uploads, names stored, error codes; a fault proxy
 * in front of a fresh place; conditional stores closed after the file.
 */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { inspect } from 'node:util';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type { S3Config } from '../../src/config/types.js';
import { LifeboatError } from '../../src/errors.js';
import { S3ConditionalStore, type S3ConditionalStoreOptions } from '../../src/storage/s3/conditional.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { FaultProxy } from './fault-proxy.js';
import { getTestS3 } from './s3.js';

/** Unfinished multipart uploads under the place's prefix (they would hold parts invisibly). */
export async function danglingUploads(config: S3Config): Promise<number> {
  const res = await (await getTestS3())
    .client()
    .send(new ListMultipartUploadsCommand({ Bucket: config.bucket, Prefix: config.prefix || undefined }));
  return res.Uploads?.length ?? 0;
}

export async function names(config: S3Config): Promise<string[]> {
  return (await new S3Store(config).list()).map((o) => o.name);
}

/** A fresh place behind a fault proxy: `config` goes through the proxy, `direct` does not. */
export async function withProxy(): Promise<{ proxy: FaultProxy; config: S3Config; direct: S3Config }> {
  const direct = await (await getTestS3()).place();
  const proxy = await FaultProxy.start(direct.url);
  return { proxy, config: { ...direct, url: proxy.url }, direct };
}

export const isLifeboat = (code: string | RegExp) => (err: unknown) => {
  assert.ok(err instanceof LifeboatError, `expected a LifeboatError, got ${inspect(err)}`);
  if (typeof code === 'string') assert.equal(err.code, code, err.message);
  else assert.match(err.code, code, err.message);
  return true;
};

const conditionalStores: S3ConditionalStore[] = [];
after(() => {
  for (const store of conditionalStores.splice(0)) store.close();
});

/** An S3ConditionalStore closed when the test file's tests have finished. */
export function openConditionalStore(config: S3Config, options: S3ConditionalStoreOptions = {}): S3ConditionalStore {
  const store = new S3ConditionalStore(config, options);
  conditionalStores.push(store);
  return store;
}
