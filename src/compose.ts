import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { BackupPlan, RemoteTarget } from './backup/job.js';
import type { Config } from './config/types.js';
import { ConfigError } from './errors.js';
import type { RestorePlan, RestoreRequester } from './restore/restore.js';
import type { RestoreSource } from './restore/source.js';
import type { StepHook } from './restore/steps.js';
import { type Clock, systemClock } from './schedule/clock.js';
import { LocalStore } from './storage/local.js';
import type { PitrObjectStore } from './storage/object-store.js';
import type { S3ConditionalStore } from './storage/s3/conditional.js';
import type { S3StoreOptions } from './storage/s3/store.js';
import type { BackupStore } from './storage/store.js';

/**
 * The composition root: the one place where a configuration becomes the parts that do the
 * work — the database path, the local and remote stores, the lock files, and the plans of a
 * backup or a restore run. The library (Lifeboat) and every CLI command build through here,
 * so a path, a lock or an option is decided once.
 */

export interface ComposeOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** `--db` / `dbPath`: this database file (another process's) instead of the embedded one. */
  readonly dbPath?: string | undefined;
  /** Base of a relative `dbPath`; default the working directory. */
  readonly cwd?: string | undefined;
  readonly clock?: Clock | undefined;
  /** A remote store of the caller's own, instead of the configured S3 bucket. */
  readonly remoteStore?: BackupStore | undefined;
  /** Options of the configured S3 store (part size, …); its timeout comes from `s3_timeout` unless set here. */
  readonly s3?: S3StoreOptions | undefined;
}

export interface RestoreRun {
  readonly requestedBy: RestoreRequester;
  /** Apply even when the marker says this backup was applied already. */
  readonly force: boolean;
  /** pitr: sources: restore what the bucket holds even where this host's capture shipped more. */
  readonly acceptOlder?: boolean | undefined;
  /** Default: HQL_BACKUP_SKIP_VALIDATION. */
  readonly skipValidation?: boolean | undefined;
  readonly onProgress?: ((bytes: number, total: number | undefined) => void) | undefined;
  readonly onStep?: StepHook;
  readonly signal?: AbortSignal | undefined;
}

export interface Composition {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  /** `embedded`: Lifeboat owns the database; `sidecar`: another process writes it (`--db`). */
  readonly mode: 'embedded' | 'sidecar';
  /** What relative paths given to this process are relative to. */
  readonly cwd: string;
  readonly dbFile: string;
  readonly local: LocalStore;
  /** Where encrypted backups go: the caller's store, else the configured S3 bucket; undefined without one. */
  readonly remote: RemoteTarget | undefined;
  /** The continuous-backup bucket of the configured S3 place, made on first use; undefined without S3. */
  readonly pitrStore: (() => PitrObjectStore) | undefined;
  readonly locks: {
    /** Held by whoever owns the database (the application's Lifeboat, a restore). */
    readonly database: string;
    /** Held during one backup run. */
    readonly backups: string;
  };
  /** Checks that the remote store answers and accepts the credentials (S3); nothing to check otherwise. */
  checkRemote(): Promise<void>;
  backupPlan(run?: Pick<BackupPlan, 'onProgress' | 'signal' | 'createdNow'>): BackupPlan;
  restorePlan(source: RestoreSource, run: RestoreRun): RestorePlan;
  /** Frees the remote store's connections. */
  close(): void;
}

/** Lock file inside the backups folder; a dot name, so it is never listed as a backup. */
export const BACKUP_LOCK = '.lifeboat-backup.lock';

/**
 * Async for one reason: the S3 client (the AWS SDK, the largest part of Lifeboat to load) is
 * imported only when the configuration names a bucket, so `import('lifeboat')` and runs
 * without S3 never load it.
 */
export async function compose(options: ComposeOptions): Promise<Composition> {
  const { config, logger } = options;
  const clock = options.clock ?? systemClock;
  const mode = options.dbPath === undefined ? 'embedded' : 'sidecar';
  const cwd = options.cwd ?? process.cwd();
  const dbFile = options.dbPath === undefined ? config.paths.dbFile : resolve(cwd, options.dbPath);
  const local = new LocalStore(config.paths.backupsDir);
  const s3 =
    options.remoteStore === undefined && config.s3
      ? new (await import('./storage/s3/store.js')).S3Store(config.s3, {
          logger,
          timeoutMs: config.s3Timeout * 1000,
          ...options.s3,
        })
      : undefined;
  const store = options.remoteStore ?? s3;
  // Loaded with S3 only (the SDK is loaded then anyway); the store itself is made on first use,
  // so snapshot-only runs open no connection for it.
  const Conditional = config.s3 ? (await import('./storage/s3/conditional.js')).S3ConditionalStore : undefined;
  let pitr: S3ConditionalStore | undefined;
  const s3Config = config.s3;
  const pitrStore =
    Conditional && s3Config
      ? () => {
          pitr ??= new Conditional(s3Config, { logger, timeoutMs: config.s3Timeout * 1000, ...options.s3 });
          return pitr;
        }
      : undefined;
  if (store && !config.encryption) {
    throw new ConfigError([
      `${store.description}: backups leave the machine only encrypted, ` +
        `but no keys are configured; set ENC_KEYS and ENC_KEY_ACTIVE`,
    ]);
  }
  const remote: RemoteTarget | undefined =
    store && config.encryption
      ? { store, key: config.encryption.active, ...(s3 ? { clockOffsetMs: () => s3.clockOffsetMs() } : {}) }
      : undefined;
  return {
    config,
    logger,
    clock,
    mode,
    cwd,
    dbFile,
    local,
    remote,
    pitrStore,
    locks: { database: `${dbFile}.lifeboat.lock`, backups: join(local.dir, BACKUP_LOCK) },
    checkRemote: async () => {
      await s3?.checkAccess();
    },
    backupPlan: (run = {}) => ({
      dbFile,
      nodeId: config.nodeId,
      local,
      lockFile: join(local.dir, BACKUP_LOCK),
      keepDaysLocal: config.backupKeepDaysLocal,
      remote,
      keepDaysRemote: config.backupKeepDays,
      keepMin: config.backupKeepMin,
      expectTables: config.restore.expectTables,
      clock,
      logger,
      onProgress: run.onProgress,
      signal: run.signal,
      createdNow: run.createdNow,
    }),
    restorePlan: (source, run) => ({
      source,
      dbFile,
      requestedBy: run.requestedBy,
      local,
      remote: store,
      keys: config.encryption,
      pitr: pitrStore,
      skipValidation: run.skipValidation ?? config.restore.skipValidation,
      expectTables: config.restore.expectTables,
      force: run.force,
      acceptOlder: run.acceptOlder,
      logger,
      now: () => clock.now(),
      onProgress: run.onProgress,
      onStep: run.onStep,
      signal: run.signal,
    }),
    close: () => {
      s3?.close();
      pitr?.close();
    },
  };
}
