import { KEYS, originsOf, type Origin } from './load.js';
import type { Config, ConfigPaths } from './types.js';

export interface ConfigEntry {
  /** `section.key` */
  readonly key: string;
  readonly env: string;
  readonly value: unknown;
  readonly origin: Origin;
}

export interface ConfigView {
  readonly configFile: string | undefined;
  readonly entries: readonly ConfigEntry[];
  readonly paths: ConfigPaths;
}

const SECRET = '***';

/** The effective configuration for people: secrets as ***, key ids but never key material. */
export function describeConfig(config: Config): ConfigView {
  const origins = originsOf(config);
  const values: Record<keyof typeof KEYS, unknown> = {
    nodeId: config.nodeId,
    dataDir: config.dataDir,
    filenameDb: config.filenameDb,
    backupCron: config.backupCron,
    backupCronTz: config.backupCronTz ?? '(local time zone)',
    backupKeepDays: config.backupKeepDays,
    backupKeepDaysLocal: config.backupKeepDaysLocal,
    s3Url: config.s3?.url ?? '(not set: no S3 backups)',
    s3Bucket: config.s3?.bucket,
    s3Region: config.s3?.region,
    s3PathStyle: config.s3?.pathStyle ?? true,
    s3Key: config.s3 ? SECRET : undefined,
    s3Secret: config.s3 ? SECRET : undefined,
    s3Prefix: config.s3?.prefix ?? '',
    restore: config.restore.source,
    skipValidation: config.restore.skipValidation,
    restoreForce: config.restore.force,
    expectTables: config.restore.expectTables,
    encKeys: config.encryption ? config.encryption.ids.map((id) => `${id}/${SECRET}`) : undefined,
    encKeyActive: config.encryption?.active.id,
  };
  const entries: ConfigEntry[] = [];
  for (const [name, spec] of Object.entries(KEYS) as Array<[keyof typeof KEYS, (typeof KEYS)[keyof typeof KEYS]]>) {
    const value = values[name];
    if (value === undefined) continue;
    entries.push({ key: spec.envOnly ? spec.env : `${spec.section}.${spec.toml}`, env: spec.envOnly ? '' : spec.env, value, origin: origins[spec.toml] ?? 'default' });
  }
  return { configFile: config.configFile, entries, paths: config.paths };
}
