export const DEFAULT_CONFIG_FILE = 'config.toml';
/** Environment variable naming the TOML file when `--config` / `configFile` is not given. */
export const CONFIG_FILE_ENV = 'LIFEBOAT_CONFIG';

/** The TOML table Lifeboat reads (Rauthy's name; standalone Hiqlite defaults to `[hiqlite]`). */
export const CLUSTER_TABLE = 'cluster';

/**
 * Every other key Hiqlite reads from its table (hiqlite/src/config_toml.rs, plus
 * `tls_api_danger_tls_no_verify` from the Rauthy book). Lifeboat ignores them; a key in
 * `[cluster]` that is neither Lifeboat's nor in this list is reported as a warning (a typo
 * such as `backup_keep_day` would otherwise silently fall back to the default).
 */
export const HIQLITE_OTHER_CLUSTER_KEYS: ReadonlySet<string> = new Set([
  'nodes',
  'listen_addr_api',
  'listen_addr_raft',
  'log_statements',
  'prepared_statement_cache_capacity',
  'read_pool_size',
  'log_sync',
  'wal_size',
  'cache_storage_disk',
  'logs_until_snapshot',
  'tls_auto_certificates',
  'tls_raft_key',
  'tls_raft_cert',
  'tls_raft_danger_tls_no_verify',
  'tls_api_key',
  'tls_api_cert',
  'tls_api_danger_tls_no_verify',
  'secret_raft',
  'secret_api',
  'secrets_file',
  'health_check_delay_secs',
  'learner_only',
  'password_dashboard',
  'insecure_cookie',
  'enc_key_active',
  'enc_keys',
  'rate_limit_cache_rps',
  'rate_limit_cache_burst',
  'rate_limit_db_rps',
  'rate_limit_db_burst',
]);

/** Hiqlite's sentinel for "look this secret up in secrets_file" (not supported by Lifeboat). */
export const HIQLITE_SECRETS_REF = '$SECRETS';
