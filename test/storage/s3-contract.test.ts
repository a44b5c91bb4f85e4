// The BackupStore contract against a real S3 server (radosgw on 127.0.0.1, or the user's
// own S3 in conformance mode): once at the bucket root (Hiqlite's layout) and once under a
// nested prefix. Every test gets a fresh bucket (or prefix).
import { createS3Store } from '../../src/storage/s3.js';
import { getTestS3 } from '../support/s3.js';
import { runStoreContract } from '../support/store-contract.js';

runStoreContract('S3, bucket root', async () => createS3Store(await (await getTestS3()).place()), { abort: true });

runStoreContract('S3, under a prefix', async () => {
  const place = await (await getTestS3()).place();
  return createS3Store({ ...place, prefix: `${place.prefix}cluster-a/node 1/` });
});
