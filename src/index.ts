export { Lifeboat, type LifeboatOptions, type BackupEntry, type BackupListing, type LifeboatMode } from './lifeboat.js';
export type { BackupReport, RemoteReport } from './backup/job.js';
export { RemotePushError } from './backup/job.js';
export type { Config, S3Config } from './config/types.js';
export { LifeboatError, ConfigError } from './errors.js';
export type { BackupStore, StoredObject } from './storage/store.js';
export { backupName, parseBackupName } from './backup/naming.js';
export { loadConfig, warningsOf, type ConfigOverrides, type LoadOptions } from './config/load.js';
export type { RestoreReport } from './restore/restore.js';
