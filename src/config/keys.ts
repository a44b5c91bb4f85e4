import { formatSource, type RestoreSource } from '../restore/source.js';
import { heartbeatTarget } from '../server/heartbeat.js';
import type { Config, ConfigOverrides } from './types.js';

/**
 * Every configuration key Lifeboat reads, in one table: the loader (load.ts) takes the kind,
 * default and flags from it, `lifeboat config` (redact.ts) lists the entries in this order
 * with their `show`, and docs/configuration.md's key tables are generated from it
 * (`npm run docs:config`; test/config/keys.test.ts fails when the doc is out of date).
 *
 * A new key is one entry here, plus its field in `Config` (and in `ConfigOverrides` when code
 * may set it) and the line in `loadConfig` that reads it. A new TOML table is one more name in
 * SECTIONS and a block in DOC_BLOCKS (doc.ts).
 */

/** The TOML tables Lifeboat reads (`[cluster]` is Rauthy's name; standalone Hiqlite uses `[hiqlite]`). */
export const SECTIONS = ['cluster', 'encryption', 'pitr'] as const;
export type Section = (typeof SECTIONS)[number];

/** What each kind of value becomes once read and checked. */
export interface KindValues {
  readonly string: string;
  /** A string never echoed: `***` in messages and output. */
  readonly secret: string;
  readonly u64: number;
  readonly u16: number;
  readonly bool: boolean;
  /** TOML: array of strings; env: comma-separated. */
  readonly strings: readonly string[];
  /** Encryption key entries (secret). TOML: array of strings; env: one per line. */
  readonly keys: readonly string[];
  /** `s3:<object>`, `s3:latest` or `file:<absolute path>`, parsed. */
  readonly restoreSource: RestoreSource;
  /** Milliseconds. `250ms`, `1s`, `5m`, `2h`, `7d`; a bare number is seconds. */
  readonly duration: number;
  /** A decimal number from `min` to `max`: TOML `1.5` or `2`, env `1.5`. */
  readonly ratio: number;
}
export type Kind = keyof KindValues;

export type ShownValue = string | number | boolean | readonly string[] | null;

/** A value as `lifeboat config` shows it, with what an unset or derived value means. */
export interface Shown {
  readonly value: ShownValue;
  readonly note?: string | undefined;
}

export const SECRET_MASK = '***';

/** The ConfigOverrides fields whose type fits a kind's value (a typo or a wrong type fails to compile). */
type OverrideFor<V> = {
  [P in keyof ConfigOverrides]-?: NonNullable<ConfigOverrides[P]> extends V ? P : never;
}[keyof ConfigOverrides];

/** One key, whatever its kind (what the loader's checks and the docs need). */
export interface KeySpec {
  readonly section: Section;
  readonly toml: string;
  readonly env: string;
  readonly kind: Kind;
  /** The value when nothing sets the key; absent when unset has a meaning of its own (`unset`). */
  readonly default?: KindValues[Kind];
  /** The docs' default column when `default` is absent or says too little (`""`, `[]`). */
  readonly unset?: string;
  /** The ConfigOverrides field a library caller sets it with; absent: not settable in code. */
  readonly override?: keyof ConfigOverrides;
  /** Read from the environment only (restore requests must not live on in a file). */
  readonly envOnly?: boolean;
  /** Not a Hiqlite key: a Lifeboat addition. */
  readonly lifeboatOnly?: boolean;
  /** Whitespace anywhere is an error (S3 names, credentials: a stray newline from `echo`). */
  readonly noSpace?: boolean;
  /** Lowest valid number (numbers only); default 0. */
  readonly min?: number;
  /** Highest valid ratio (ratios only). */
  readonly max?: number;
  /** What a number counts, for messages: "a whole number of days (0..65535)". */
  readonly unit?: string;
  /** Must be set when `s3_url` is (S3 backups are on). */
  readonly requiredWithS3?: boolean;
  /** The docs' "valid values and meaning" column (Markdown, one line). */
  readonly doc: string;
  /** The value `lifeboat config` shows (never a secret); undefined = the line is left out. */
  readonly show: (config: Config) => Shown | undefined;
}

/** A key of kind K: its default and its ConfigOverrides field have K's value type. */
export interface KeyOf<K extends Kind> extends KeySpec {
  readonly kind: K;
  readonly default?: KindValues[K];
  readonly override?: OverrideFor<KindValues[K]>;
}

/** A KeySpec of any one kind (a union, so each entry's default is checked against its own kind). */
export type AnyKeySpec = { [K in Kind]: KeyOf<K> }[Kind];

const whenS3 = (config: Config, value: (s3: NonNullable<Config['s3']>) => ShownValue, note?: string) =>
  config.s3 ? { value: value(config.s3), note } : undefined;

export const KEYS = {
  nodeIdFrom: {
    section: 'cluster',
    toml: 'node_id_from',
    env: 'HQL_NODE_ID_FROM',
    kind: 'string',
    unset: 'not set',
    override: 'nodeIdFrom',
    doc:
      'only `"k8s"`: the node id is the StatefulSet ordinal at the end of the host name + 1 ' +
      '(`rauthy-0` → 1, `rauthy-2` → 3); `node_id` is then ignored',
    show: (c) => (c.nodeIdFrom ? { value: c.nodeIdFrom } : undefined),
  },
  nodeId: {
    section: 'cluster',
    toml: 'node_id',
    env: 'HQL_NODE_ID',
    kind: 'u64',
    // Hiqlite's TOML reader falls back to 0 (invalid); the Rauthy book says 1.
    default: 1,
    override: 'nodeId',
    min: 1,
    doc: 'whole number 1..2^53-1; part of every backup name (`backup_node_{node_id}_…`)',
    show: (c) => ({
      value: c.nodeId,
      note: c.nodeIdFrom ? 'from the host name (node_id_from = "k8s")' : undefined,
    }),
  },
  dataDir: {
    section: 'cluster',
    toml: 'data_dir',
    env: 'HQL_DATA_DIR',
    kind: 'string',
    default: 'data',
    override: 'dataDir',
    doc: 'root of all state; relative = relative to the working directory',
    show: (c) => ({ value: c.dataDir }),
  },
  filenameDb: {
    section: 'cluster',
    toml: 'filename_db',
    env: 'HQL_FILENAME_DB',
    kind: 'string',
    default: 'hiqlite.db',
    override: 'filenameDb',
    doc: 'the database file name; a name, no folders',
    show: (c) => ({ value: c.filenameDb }),
  },
  backupCron: {
    section: 'cluster',
    toml: 'backup_cron',
    env: 'HQL_BACKUP_CRON',
    kind: 'string',
    default: '0 30 2 * * * *',
    override: 'backupCron',
    doc: "when backups run, Hiqlite's cron dialect (below)",
    show: (c) => ({ value: c.backupCron }),
  },
  backupCronTz: {
    section: 'cluster',
    toml: 'backup_cron_tz',
    env: 'HQL_BACKUP_CRON_TZ',
    kind: 'string',
    unset: 'local zone of the process',
    override: 'backupCronTz',
    lifeboatOnly: true,
    noSpace: true,
    doc: 'IANA zone the cron expression is evaluated in, e.g. `Europe/Berlin`, `UTC`',
    show: (c) => ({
      value: c.backupCronTz ?? null,
      note: c.backupCronTz ? undefined : 'the local time zone of the process',
    }),
  },
  backupKeepDays: {
    section: 'cluster',
    toml: 'backup_keep_days',
    env: 'HQL_BACKUP_KEEP_DAYS',
    kind: 'u16',
    default: 30,
    override: 'backupKeepDays',
    unit: 'days',
    doc: 'remote (S3) retention in days, 0..65535',
    show: (c) => ({ value: c.backupKeepDays, note: 'remote (S3) retention' }),
  },
  backupKeepDaysLocal: {
    section: 'cluster',
    toml: 'backup_keep_days_local',
    env: 'HQL_BACKUP_KEEP_DAYS_LOCAL',
    kind: 'u16',
    // The Rauthy book says 3; Hiqlite's code says 30.
    default: 3,
    override: 'backupKeepDaysLocal',
    unit: 'days',
    doc: 'local retention in days, 0..65535',
    show: (c) => ({ value: c.backupKeepDaysLocal, note: 'local retention' }),
  },
  backupKeepMin: {
    section: 'cluster',
    toml: 'backup_keep_min',
    env: 'HQL_BACKUP_KEEP_MIN',
    kind: 'u16',
    default: 3,
    override: 'backupKeepMin',
    lifeboatOnly: true,
    unit: 'backups',
    doc:
      'backups kept in each store (local, S3) whatever their age, so a wrong clock or a long pause ' +
      'cannot expire them all; 0..65535 (0: only the newest is always kept)',
    show: (c) => ({ value: c.backupKeepMin, note: 'kept in each store whatever their age' }),
  },
  s3Url: {
    section: 'cluster',
    toml: 's3_url',
    env: 'HQL_S3_URL',
    kind: 'string',
    unset: 'not set',
    override: 's3Url',
    noSpace: true,
    doc: 'S3 endpoint, `http://` or `https://`, no credentials in it; **S3 backups are on iff this is set**',
    show: (c) => ({ value: c.s3?.url ?? null, note: c.s3 ? undefined : 'S3 backups are off' }),
  },
  s3Bucket: {
    section: 'cluster',
    toml: 's3_bucket',
    env: 'HQL_S3_BUCKET',
    kind: 'string',
    override: 's3Bucket',
    noSpace: true,
    requiredWithS3: true,
    doc: 'an existing bucket; a name, not a path',
    show: (c) => whenS3(c, (s3) => s3.bucket),
  },
  s3Region: {
    section: 'cluster',
    toml: 's3_region',
    env: 'HQL_S3_REGION',
    kind: 'string',
    override: 's3Region',
    noSpace: true,
    requiredWithS3: true,
    doc: 'any value for most non-AWS stores, e.g. `us-east-1`',
    show: (c) => whenS3(c, (s3) => s3.region),
  },
  s3PathStyle: {
    section: 'cluster',
    toml: 's3_path_style',
    env: 'HQL_S3_PATH_STYLE',
    kind: 'bool',
    default: true,
    override: 's3PathStyle',
    doc: '`true` = `https://host/bucket/key`, `false` = virtual-host style',
    show: (c) => whenS3(c, (s3) => s3.pathStyle),
  },
  s3Key: {
    section: 'cluster',
    toml: 's3_key',
    env: 'HQL_S3_KEY',
    kind: 'secret',
    override: 's3Key',
    noSpace: true,
    requiredWithS3: true,
    doc: 'access key id (shown as `***`)',
    show: (c) => whenS3(c, () => SECRET_MASK),
  },
  s3Secret: {
    section: 'cluster',
    toml: 's3_secret',
    env: 'HQL_S3_SECRET',
    kind: 'secret',
    override: 's3Secret',
    noSpace: true,
    requiredWithS3: true,
    doc: 'secret access key (shown as `***`)',
    show: (c) => whenS3(c, () => SECRET_MASK),
  },
  s3Prefix: {
    section: 'cluster',
    toml: 's3_prefix',
    env: 'HQL_S3_PREFIX',
    kind: 'string',
    default: '',
    unset: 'empty = bucket root (as Hiqlite)',
    override: 's3Prefix',
    lifeboatOnly: true,
    noSpace: true,
    doc: 'object key prefix, used literally: `prod/` gives `prod/backup_node_1_….sqlite`; must not start with `/`',
    show: (c) => whenS3(c, (s3) => s3.prefix, c.s3?.prefix ? undefined : 'bucket root'),
  },
  s3Timeout: {
    section: 'cluster',
    toml: 's3_timeout',
    env: 'HQL_S3_TIMEOUT',
    kind: 'u16',
    default: 30,
    override: 's3Timeout',
    lifeboatOnly: true,
    min: 1,
    unit: 'seconds',
    doc:
      'seconds an S3 request may go without progress before it fails, retries included: a small request ' +
      '(list, head, create, complete, abort) must be answered within it, a part of an upload or a download ' +
      'fails when no byte moved for it; a large upload that keeps moving is never cut off ' +
      '([disaster-recovery.md](disaster-recovery.md#s3-is-down))',
    show: (c) => whenS3(c, () => c.s3Timeout, 'seconds without progress before an S3 request fails'),
  },
  heartbeatUrl: {
    section: 'cluster',
    toml: 'backup_heartbeat_url',
    env: 'HQL_BACKUP_HEARTBEAT_URL',
    kind: 'secret',
    unset: 'not set',
    override: 'backupHeartbeatUrl',
    lifeboatOnly: true,
    noSpace: true,
    doc:
      'an `http(s)` URL requested after each successful backup (kept, checked, and pushed when S3 is on), for a ' +
      'dead-man service that alerts when the requests stop; shown as `https://host/***` (it usually holds a ' +
      'token); a failed request is a warning, never a failed backup ([monitoring.md](monitoring.md#heartbeat))',
    show: (c) => ({
      value: c.heartbeat ? `${heartbeatTarget(c.heartbeat.url)}/${SECRET_MASK}` : null,
      note: c.heartbeat ? `${c.heartbeat.method} after each successful backup` : undefined,
    }),
  },
  heartbeatMethod: {
    section: 'cluster',
    toml: 'backup_heartbeat_method',
    env: 'HQL_BACKUP_HEARTBEAT_METHOD',
    kind: 'string',
    default: 'GET',
    override: 'backupHeartbeatMethod',
    lifeboatOnly: true,
    noSpace: true,
    doc: '`GET`, or `POST` with a small JSON body naming the backup (database, name, time, size, pushed)',
    show: (c) => (c.heartbeat ? { value: c.heartbeat.method } : undefined),
  },
  expectTables: {
    section: 'cluster',
    toml: 'backup_restore_expect_tables',
    env: 'HQL_BACKUP_RESTORE_EXPECT_TABLES',
    kind: 'strings',
    default: [],
    unset: 'none',
    override: 'backupRestoreExpectTables',
    lifeboatOnly: true,
    doc: 'tables a restored backup must contain; TOML: array of strings, env: comma-separated ' + '(`users,sessions`)',
    show: (c) => ({ value: c.restore.expectTables }),
  },
  restore: {
    section: 'cluster',
    toml: 'backup_restore',
    env: 'HQL_BACKUP_RESTORE',
    kind: 'restoreSource',
    unset: 'not set',
    envOnly: true,
    doc:
      'restore at start-up: `s3:<object>`, `s3:latest`, `file:<absolute path>`, ' +
      '`pitr:latest|txid:<N>|time:<RFC 3339>` (`… on timeline <K>` for latest and time:) — see ' +
      '[disaster-recovery.md](disaster-recovery.md); checked when the configuration is read',
    show: (c) => ({
      value: c.restore.source ? formatSource(c.restore.source) : null,
      note: c.restore.source ? 'a restore runs at start-up' : undefined,
    }),
  },
  skipValidation: {
    section: 'cluster',
    toml: 'backup_skip_validation',
    env: 'HQL_BACKUP_SKIP_VALIDATION',
    kind: 'bool',
    default: false,
    envOnly: true,
    doc: 'restore without `integrity_check` and the table check (the SQLite header is still checked)',
    show: (c) => ({ value: c.restore.skipValidation }),
  },
  restoreForce: {
    section: 'cluster',
    toml: 'backup_restore_force',
    env: 'HQL_BACKUP_RESTORE_FORCE',
    kind: 'bool',
    default: false,
    envOnly: true,
    lifeboatOnly: true,
    doc: 'apply `HQL_BACKUP_RESTORE` even though its marker says it was applied already',
    show: (c) => ({ value: c.restore.force }),
  },
  restoreIfMissing: {
    section: 'cluster',
    toml: 'backup_restore_if_missing',
    env: 'HQL_BACKUP_RESTORE_IF_MISSING',
    kind: 'restoreSource',
    unset: 'not set',
    override: 'backupRestoreIfMissing',
    lifeboatOnly: true,
    doc:
      'restore at start-up only when the database file does not exist and a backup does (`s3:latest`, ' +
      '`local:latest`, …): safe to leave set, like an init container with `--if-db-not-exists --if-replica-exists`',
    show: (c) => ({
      value: c.restore.ifMissing ? formatSource(c.restore.ifMissing) : null,
      note: c.restore.ifMissing ? undefined : 'a missing database is created empty',
    }),
  },
  encKeys: {
    section: 'encryption',
    toml: 'keys',
    env: 'ENC_KEYS',
    kind: 'keys',
    unset: 'not set',
    override: 'encKeys',
    doc: 'TOML: array of `"id/base64key"` strings; env: the same entries, one per line',
    show: (c) => ({
      value: c.encryption ? c.encryption.ids.map((id) => `${id}/${SECRET_MASK}`) : null,
      note: c.encryption || c.s3 ? undefined : 'no keys: encrypt/decrypt and S3 backups need them',
    }),
  },
  encKeyActive: {
    section: 'encryption',
    toml: 'key_active',
    env: 'ENC_KEY_ACTIVE',
    kind: 'string',
    unset: 'not set',
    override: 'encKeyActive',
    doc: 'id of the key that encrypts new backups; must be one of `keys`',
    show: (c) => ({ value: c.encryption?.active.id ?? null }),
  },
  pitrEnabled: {
    section: 'pitr',
    toml: 'enabled',
    env: 'LIFEBOAT_PITR',
    kind: 'bool',
    default: false,
    override: 'pitrEnabled',
    lifeboatOnly: true,
    doc:
      'continuous backup: ship every committed transaction, encrypted, to S3 within `sync_interval` and restore to ' +
      'any of them (`lifeboat restore --pitr`); needs S3, the keys and a database in WAL mode ' +
      '([continuous-backup.md](continuous-backup.md))',
    show: (c) => ({ value: c.pitr.enabled }),
  },
  pitrSyncInterval: {
    section: 'pitr',
    toml: 'sync_interval',
    env: 'LIFEBOAT_PITR_SYNC_INTERVAL',
    kind: 'duration',
    default: 1000,
    unset: '`1s`',
    override: 'pitrSyncInterval',
    lifeboatOnly: true,
    min: 100,
    doc:
      'longest a commit waits before it is sealed and sent (the recovery point): from `100ms`, ' +
      'e.g. `250ms`, `1s`, `10s`',
    show: (c) => ({ value: `${c.pitr.syncIntervalMs}ms` }),
  },
  pitrWindow: {
    section: 'pitr',
    toml: 'window',
    env: 'LIFEBOAT_PITR_WINDOW',
    kind: 'duration',
    default: 7 * 86_400_000,
    unset: '`7d`',
    override: 'pitrWindow',
    lifeboatOnly: true,
    min: 3_600_000,
    doc:
      'how far back a point can be restored: older generations (base and segments) are deleted, never the current ' +
      'one; `1h` to `366d`',
    show: (c) => ({ value: `${c.pitr.windowMs / 86_400_000}d` }),
  },
  pitrRebaseEvery: {
    section: 'pitr',
    toml: 'rebase_every',
    env: 'LIFEBOAT_PITR_REBASE_EVERY',
    kind: 'duration',
    default: 86_400_000,
    unset: '`24h`',
    override: 'pitrRebaseEvery',
    lifeboatOnly: true,
    min: 60_000,
    doc:
      'a fresh base (a full encrypted copy) this often while commits flow, or sooner by `rebase_ratio`: a restore ' +
      'applies at most a day of segments',
    show: (c) => ({ value: `${c.pitr.rebaseEveryMs / 3_600_000}h` }),
  },
  pitrRebaseRatio: {
    section: 'pitr',
    toml: 'rebase_ratio',
    env: 'LIFEBOAT_PITR_REBASE_RATIO',
    kind: 'ratio',
    default: 1.5,
    override: 'pitrRebaseRatio',
    lifeboatOnly: true,
    min: 0.1,
    max: 1000,
    doc:
      'a fresh base once the segments since the last one hold this many database sizes of page writes (what a ' +
      'restore applies after the base; `0.1` to `1000`): higher uploads fewer bases, lower restores faster',
    show: (c) => ({ value: c.pitr.rebaseRatio }),
  },
  pitrCheckpointPages: {
    section: 'pitr',
    toml: 'checkpoint_pages',
    env: 'LIFEBOAT_PITR_CHECKPOINT_PAGES',
    kind: 'u64',
    default: 1000,
    override: 'pitrCheckpointPages',
    lifeboatOnly: true,
    min: 10,
    unit: 'WAL frames',
    doc:
      'WAL frames after which continuous backup lets the WAL start over (a checkpoint; the application waits ' +
      'milliseconds)',
    show: (c) => ({ value: c.pitr.checkpointPages }),
  },
  pitrWalHardPages: {
    section: 'pitr',
    toml: 'wal_hard_pages',
    env: 'LIFEBOAT_PITR_WAL_HARD_PAGES',
    kind: 'u64',
    default: 16_384,
    override: 'pitrWalHardPages',
    lifeboatOnly: true,
    min: 10,
    unit: 'WAL frames',
    doc:
      'WAL frames at which continuous backup, to let the WAL start over, waits up to 250 ms for the ' +
      "application's write lock instead of trying it once: a writer that is nearly always inside a transaction " +
      'cannot grow the WAL without bound (64 MiB at 4 KiB pages; at least checkpoint_pages)',
    show: (c) => ({ value: c.pitr.walHardPages }),
  },
  pitrWalMaxPages: {
    section: 'pitr',
    toml: 'wal_max_pages',
    env: 'LIFEBOAT_PITR_WAL_MAX_PAGES',
    kind: 'u64',
    default: 65_536,
    override: 'pitrWalMaxPages',
    lifeboatOnly: true,
    min: 100,
    unit: 'WAL frames',
    doc:
      'WAL frames at which continuous backup, while the bucket cannot take its segments, lets go of the WAL so ' +
      'that the application can start it over: the disk does not fill; what was not shipped is a gap, and a new ' +
      'generation begins once S3 answers (256 MiB at 4 KiB pages)',
    show: (c) => ({ value: c.pitr.walMaxPages }),
  },
} as const satisfies Record<string, AnyKeySpec>;

/** The keys in table order (the order of `lifeboat config` and of the docs' tables). */
export const KEY_LIST: readonly AnyKeySpec[] = Object.values(KEYS);

/** A key in messages: `cluster.backup_keep_days (HQL_BACKUP_KEEP_DAYS)`; env-only keys by their variable. */
export function nameOf(spec: KeySpec): string {
  return spec.envOnly ? spec.env : `${spec.section}.${spec.toml} (${spec.env})`;
}
