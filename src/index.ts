export type { BackupReport, RemoteReport } from './backup/job.js';
export { RemotePushError } from './backup/job.js';
export { backupName, parseBackupName } from './backup/naming.js';
export { type ConfigOverrides, type LoadOptions, loadConfig, warningsOf } from './config/load.js';
export type { Config, S3Config } from './config/types.js';
export { ConfigError, LifeboatError } from './errors.js';
export {
  type BackupEntry,
  type BackupListing,
  Lifeboat,
  type LifeboatMode,
  type LifeboatOptions,
} from './lifeboat.js';
export type { RestoreReport } from './restore/restore.js';
export type { RemoteState, RemoteStatus } from './server/status.js';
export { LocalStore } from './storage/local.js';
export { S3Store, type S3StoreOptions } from './storage/s3/store.js';
export type {
  BackupStore,
  ByteRange,
  RangeSource,
  StagedObject,
  StageOptions,
  StoredObject,
} from './storage/store.js';
