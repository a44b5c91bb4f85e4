/** Hiqlite's names and defaults (the seed wins where Hiqlite's code differs; see docs/configuration.md). */
export const DEFAULTS = {
  nodeId: 1,
  dataDir: 'data',
  filenameDb: 'hiqlite.db',
  backupCron: '0 30 2 * * * *',
  backupKeepDays: 30,
  backupKeepDaysLocal: 3,
  s3PathStyle: true,
  s3Prefix: '',
} as const;

export const DEFAULT_CONFIG_FILE = 'config.toml';
