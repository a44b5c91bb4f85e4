/**
 * The `lifeboat/s3` entry point: the S3 store, for applications that use it directly (a
 * store of their own, a bucket check). A separate entry because it loads the AWS SDK, the
 * largest part of Lifeboat to load; `lifeboat` itself imports it only when S3 is configured.
 */
export { S3Store, type S3StoreOptions } from './storage/s3/store.js';
