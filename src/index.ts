export type { BackupReport, RemoteReport } from './backup/job.js';
export { RemotePushError } from './backup/job.js';
export { backupName, parseBackupName } from './backup/naming.js';
export { type ConfigOverrides, type LoadOptions, loadConfig, warningsOf } from './config/load.js';
export type { Config, S3Config } from './config/types.js';
export { ConfigError, type ErrorCode, LifeboatError } from './errors.js';
export {
  type BackupEntry,
  type BackupListing,
  Lifeboat,
  type LifeboatEvents,
  type LifeboatMode,
  type LifeboatOperation,
  type LifeboatOptions,
} from './lifeboat.js';
export type { LifeboatLogger, LogFields } from './log.js';
export type { CaptureStatus } from './pitr/capture/capture.js';
export type { ContinuousState, ContinuousStatus } from './pitr/continuous.js';
export type { RestoreReport } from './restore/restore.js';
export type { Clock } from './schedule/clock.js';
export type { RemoteState, RemoteStatus, StatusReport } from './server/status.js';
export { LocalStore } from './storage/local.js';
// S3Store is in 'lifeboat/s3' (src/s3.ts): it loads the AWS SDK, which 'lifeboat' does only when S3 is configured.
export type {
  BackupStore,
  ByteRange,
  RangeSource,
  StagedObject,
  StageOptions,
  StoredObject,
} from './storage/store.js';
