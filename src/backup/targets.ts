import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import { LocalStore } from '../storage/local.js';
import { checkS3Access, createS3Store } from '../storage/s3.js';
import type { BackupStore } from '../storage/store.js';
import type { BackupJobOptions, RemoteTarget } from './job.js';

/**
 * The configured remote store, checked for reachability and credentials when asked, or
 * undefined when S3 is not configured. (The config guarantees keys exist when S3 does.)
 */
export async function openRemoteStore(
  config: Config,
  logger: Logger,
  options: { check: boolean },
): Promise<BackupStore | undefined> {
  if (!config.s3) return undefined;
  const store = createS3Store(config.s3, { logger });
  if (options.check) await checkS3Access(store);
  return store;
}

export function remoteTarget(config: Config, store: BackupStore | undefined): RemoteTarget | undefined {
  if (!store || !config.encryption) return undefined;
  return { store, key: config.encryption.active };
}

/** One backup run as the configuration describes it (node id, folders, retention, S3). */
export function backupJobOptions(
  config: Config,
  run: Pick<BackupJobOptions, 'dbFile' | 'check' | 'now' | 'logger' | 'onProgress'> & {
    readonly remote: BackupStore | undefined;
    readonly local?: LocalStore;
  },
): BackupJobOptions {
  return {
    dbFile: run.dbFile,
    nodeId: config.nodeId,
    local: run.local ?? new LocalStore(config.paths.backupsDir),
    keepDaysLocal: config.backupKeepDaysLocal,
    remote: remoteTarget(config, run.remote),
    keepDaysRemote: config.backupKeepDays,
    check: run.check,
    now: run.now,
    logger: run.logger,
    onProgress: run.onProgress,
  };
}
