// The BackupStore contract against a real S3 server (radosgw on 127.0.0.1, or the user's
// own S3 in conformance mode): once at the bucket root (Hiqlite's layout) and once under a
// nested prefix. Every test gets a fresh bucket (or prefix). Parts of 5 MiB (the S3 minimum),
// so the contract's larger objects go up as multipart uploads.
import type { S3Config } from '../../src/config/types.js';
import { S3Store } from '../../src/storage/s3/store.js';
import { getTestS3 } from '../support/s3.js';
import { danglingUploads } from '../support/s3-checks.js';
import { runStoreContract } from '../support/store-contract.js';

const partSizeBytes = 5 * 1024 * 1024;
const leftovers = async (store: unknown) => danglingUploads((store as S3Store).config);
const open = (config: S3Config) => new S3Store(config, { partSizeBytes });

runStoreContract('S3, bucket root', async () => open(await (await getTestS3()).place()), { leftovers });

runStoreContract(
  'S3, under a prefix',
  async () => {
    const place = await (await getTestS3()).place();
    return open({ ...place, prefix: `${place.prefix}cluster-a/node 1/` });
  },
  { leftovers },
);
