import type { KeySet } from '../crypto/keys.js';
import type { RestoreSource } from '../restore/source.js';

/** S3 settings; present only when `s3_url` / HQL_S3_URL is set. */
export interface S3Config {
  readonly url: string;
  readonly bucket: string;
  readonly region: string;
  /** true = path style (`https://host/bucket/key`), false = virtual-host style. */
  readonly pathStyle: boolean;
  /** Access key id (treated as secret-ish: never logged). */
  readonly key: string;
  /** Secret access key (never logged, never in errors). */
  readonly secret: string;
  /** Lifeboat addition: object key prefix, '' = bucket root (Hiqlite-compatible). */
  readonly prefix: string;
}

/** Lifeboat addition: the request after each successful backup (src/server/heartbeat.ts). */
export interface HeartbeatConfig {
  /** http(s); secret-ish (a dead-man service's token is usually in it): never logged. */
  readonly url: string;
  readonly method: 'GET' | 'POST';
}

export interface RestoreConfig {
  /** HQL_BACKUP_RESTORE (`s3:<object>`, `s3:latest`, `file:<path>`), parsed when the configuration loads. */
  readonly source: RestoreSource | undefined;
  /** HQL_BACKUP_SKIP_VALIDATION */
  readonly skipValidation: boolean;
  /** Lifeboat addition HQL_BACKUP_RESTORE_FORCE: re-apply a source the marker says was applied. */
  readonly force: boolean;
  /** Lifeboat addition: tables a restored database must contain. */
  readonly expectTables: readonly string[];
  /** Lifeboat addition HQL_BACKUP_RESTORE_IF_MISSING: restored at start-up when the database file is missing. */
  readonly ifMissing: RestoreSource | undefined;
}

/** Lifeboat addition: continuous backup (the `[pitr]` table). */
export interface PitrConfig {
  readonly enabled: boolean;
  readonly syncIntervalMs: number;
  readonly windowMs: number;
  readonly rebaseEveryMs: number;
  readonly rebaseRatio: number;
  readonly checkpointPages: number;
  readonly walHardPages: number;
  readonly walMaxPages: number;
}

/** Derived absolute paths. */
export interface ConfigPaths {
  readonly dataDir: string;
  /** `{data_dir}/state_machine/db` */
  readonly dbDir: string;
  /** `{data_dir}/state_machine/db/{filename_db}` unless overridden by `--db` */
  readonly dbFile: string;
  /** `{data_dir}/state_machine/backups` */
  readonly backupsDir: string;
}

/** The one typed, validated configuration. Build it with `loadConfig`. */
export interface Config {
  /** From `node_id`, or derived from the host name when `node_id_from = "k8s"`. */
  readonly nodeId: number;
  /** Set when the node id was derived from the host name (HQL_NODE_ID_FROM=k8s). */
  readonly nodeIdFrom?: 'k8s';
  readonly dataDir: string;
  readonly filenameDb: string;
  readonly backupCron: string;
  /** Lifeboat addition: IANA zone for the cron schedule; undefined = process local zone. */
  readonly backupCronTz: string | undefined;
  readonly backupKeepDays: number;
  readonly backupKeepDaysLocal: number;
  /** Lifeboat addition: backups kept in each store whatever their age. */
  readonly backupKeepMin: number;
  readonly s3: S3Config | undefined;
  /** Lifeboat addition: seconds an S3 request may go without progress (retries included) before it fails. */
  readonly s3Timeout: number;
  /** Lifeboat addition: present when `backup_heartbeat_url` is set. */
  readonly heartbeat: HeartbeatConfig | undefined;
  /** Present when ENC_KEYS / [encryption] is configured. Required when S3 is. */
  readonly encryption: KeySet | undefined;
  readonly restore: RestoreConfig;
  readonly pitr: PitrConfig;
  readonly paths: ConfigPaths;
  /** The TOML file that was read, if any. */
  readonly configFile: string | undefined;
}

/**
 * Values a library caller sets in code, one per `[cluster]` / `[encryption]` key (camelCase).
 * They sit between the TOML file and the environment: env > code > file > default.
 * The restore switches (HQL_BACKUP_RESTORE, HQL_BACKUP_SKIP_VALIDATION,
 * HQL_BACKUP_RESTORE_FORCE) are deliberately absent: they are read from the environment
 * only, so a restore request cannot linger in code or a file and re-apply at every start.
 */
export interface ConfigOverrides {
  readonly nodeId?: number;
  /** Only `"k8s"`: node id = StatefulSet ordinal in the host name + 1 (as Hiqlite). */
  readonly nodeIdFrom?: 'k8s';
  readonly dataDir?: string;
  readonly filenameDb?: string;
  readonly backupCron?: string;
  readonly backupCronTz?: string;
  readonly backupKeepDays?: number;
  readonly backupKeepDaysLocal?: number;
  readonly backupKeepMin?: number;
  readonly s3Url?: string;
  readonly s3Bucket?: string;
  readonly s3Region?: string;
  readonly s3PathStyle?: boolean;
  readonly s3Key?: string;
  readonly s3Secret?: string;
  readonly s3Prefix?: string;
  /** Seconds (see `Config.s3Timeout`). */
  readonly s3Timeout?: number;
  /** See `HeartbeatConfig`. */
  readonly backupHeartbeatUrl?: string;
  readonly backupHeartbeatMethod?: 'GET' | 'POST';
  readonly backupRestoreExpectTables?: readonly string[];
  readonly backupRestoreIfMissing?: RestoreSource;
  readonly encKeys?: readonly string[];
  readonly encKeyActive?: string;
  readonly pitrEnabled?: boolean;
  /** Milliseconds. */
  readonly pitrSyncInterval?: number;
  /** Milliseconds. */
  readonly pitrWindow?: number;
  /** Milliseconds. */
  readonly pitrRebaseEvery?: number;
  readonly pitrRebaseRatio?: number;
  readonly pitrCheckpointPages?: number;
  readonly pitrWalHardPages?: number;
  readonly pitrWalMaxPages?: number;
}
