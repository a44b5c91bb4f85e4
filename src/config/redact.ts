import { KEYS, type Origin, originsOf, warningsOf } from './load.js';
import type { Config, ConfigPaths } from './types.js';

export type ShownValue = string | number | boolean | readonly string[] | null;

export interface ConfigEntry {
  /** `section.key`, or the env var for environment-only settings. */
  readonly key: string;
  /** The environment variable ('' when `key` is the env var itself). */
  readonly env: string;
  /** The effective value; `***` for secrets; null when not set. */
  readonly value: ShownValue;
  readonly origin: Origin;
  /** What an unset or derived value means, e.g. "S3 backups are off". */
  readonly note?: string;
  /** A Lifeboat addition (Hiqlite does not know this key). */
  readonly lifeboatOnly?: true;
}

export interface ConfigView {
  /** The TOML file that was read; null when none (defaults and environment only). */
  readonly configFile: string | null;
  readonly entries: readonly ConfigEntry[];
  readonly paths: ConfigPaths;
  /** Key ids, and which one encrypts; never key material. */
  readonly keys: { readonly ids: readonly string[]; readonly active: string } | null;
  readonly warnings: readonly string[];
}

export const SECRET_MASK = '***';

/**
 * The effective configuration for people: every value with its origin (`default`, `file`,
 * `code`, `env`), secrets as `***`, key ids but never key material.
 */
export function describeConfig(config: Config): ConfigView {
  const origins = originsOf(config);
  const entries: ConfigEntry[] = [];
  const add = (spec: (typeof KEYS)[keyof typeof KEYS], value: ShownValue, note?: string): void => {
    entries.push({
      key: spec.envOnly ? spec.env : `${spec.section}.${spec.toml}`,
      env: spec.envOnly ? '' : spec.env,
      value,
      origin: origins[spec.toml] ?? 'default',
      ...(note ? { note } : {}),
      ...('lifeboatOnly' in spec && spec.lifeboatOnly ? { lifeboatOnly: true as const } : {}),
    });
  };
  const s3 = config.s3;
  if (config.nodeIdFrom) add(KEYS.nodeIdFrom, config.nodeIdFrom);
  add(KEYS.nodeId, config.nodeId, config.nodeIdFrom ? 'from the host name (node_id_from = "k8s")' : undefined);
  add(KEYS.dataDir, config.dataDir);
  add(KEYS.filenameDb, config.filenameDb);
  add(KEYS.backupCron, config.backupCron);
  add(
    KEYS.backupCronTz,
    config.backupCronTz ?? null,
    config.backupCronTz ? undefined : 'the local time zone of the process',
  );
  add(KEYS.backupKeepDays, config.backupKeepDays, 'remote (S3) retention');
  add(KEYS.backupKeepDaysLocal, config.backupKeepDaysLocal, 'local retention');
  add(KEYS.s3Url, s3?.url ?? null, s3 ? undefined : 'S3 backups are off');
  if (s3) {
    add(KEYS.s3Bucket, s3.bucket);
    add(KEYS.s3Region, s3.region);
    add(KEYS.s3PathStyle, s3.pathStyle);
    add(KEYS.s3Key, SECRET_MASK);
    add(KEYS.s3Secret, SECRET_MASK);
    add(KEYS.s3Prefix, s3.prefix, s3.prefix ? undefined : 'bucket root');
  }
  add(KEYS.expectTables, config.restore.expectTables);
  add(KEYS.restore, config.restore.source ?? null, config.restore.source ? 'a restore runs at start-up' : undefined);
  add(KEYS.skipValidation, config.restore.skipValidation);
  add(KEYS.restoreForce, config.restore.force);
  const enc = config.encryption;
  add(
    KEYS.encKeys,
    enc ? enc.ids.map((id) => `${id}/${SECRET_MASK}`) : null,
    enc ? undefined : s3 ? undefined : 'no keys: encrypt/decrypt and S3 backups need them',
  );
  add(KEYS.encKeyActive, enc?.active.id ?? null);
  return {
    configFile: config.configFile ?? null,
    entries,
    paths: config.paths,
    keys: enc ? { ids: [...enc.ids], active: enc.active.id } : null,
    warnings: warningsOf(config),
  };
}

/** `describeConfig` as text: TOML-like `key = value  # origin, ENV` lines, then the paths. */
export function formatConfig(view: ConfigView): string {
  const lines = [`# config file: ${view.configFile ?? 'none (defaults and environment)'}`];
  for (const w of view.warnings) lines.push(`# warning: ${w}`);
  const shown = view.entries.map((e) => (e.value === null ? '(not set)' : JSON.stringify(e.value)));
  const keyWidth = Math.max(...view.entries.map((e) => e.key.length));
  const valueWidth = Math.min(40, Math.max(...shown.map((s) => s.length)));
  view.entries.forEach((e, i) => {
    const comment = [e.origin + (e.env ? `, ${e.env}` : ''), e.note, e.lifeboatOnly ? 'Lifeboat addition' : undefined]
      .filter(Boolean)
      .join('; ');
    lines.push(`${e.key.padEnd(keyWidth)} = ${shown[i]!.padEnd(valueWidth)}  # ${comment}`);
  });
  lines.push('', `# database: ${view.paths.dbFile}`, `# backups:  ${view.paths.backupsDir}`);
  return `${lines.join('\n')}\n`;
}
