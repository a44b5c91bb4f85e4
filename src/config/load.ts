import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { parseKeySet, splitEnvKeys, type KeySet } from '../crypto/keys.js';
import { ConfigError } from '../errors.js';
import { parseCron } from '../schedule/cron.js';
import { DEFAULT_CONFIG_FILE, DEFAULTS } from './defaults.js';
import type { Config, RestoreConfig, S3Config } from './types.js';

/** Values a library caller sets in code. They sit between the TOML file and the environment. */
export interface ConfigOverrides {
  readonly nodeId?: number;
  readonly dataDir?: string;
  readonly filenameDb?: string;
  readonly backupCron?: string;
  readonly backupCronTz?: string;
  readonly backupKeepDays?: number;
  readonly backupKeepDaysLocal?: number;
  readonly s3Url?: string;
  readonly s3Bucket?: string;
  readonly s3Region?: string;
  readonly s3PathStyle?: boolean;
  readonly s3Key?: string;
  readonly s3Secret?: string;
  readonly s3Prefix?: string;
  readonly encKeys?: readonly string[];
  readonly encKeyActive?: string;
  readonly backupRestoreExpectTables?: readonly string[];
}

export interface LoadOptions {
  readonly configFile?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly overrides?: ConfigOverrides;
}

export type Origin = 'default' | 'file' | 'code' | 'env';

/** Where each effective value came from, by TOML key (for `lifeboat config`). */
export type Origins = Readonly<Record<string, Origin>>;

const origins = new WeakMap<Config, Origins>();

export function originsOf(config: Config): Origins {
  return origins.get(config) ?? {};
}

type Kind = 'string' | 'secret' | 'u64' | 'u16' | 'bool' | 'strings';

interface KeySpec {
  /** Read from the environment only (restore requests must not live on in a file). */
  readonly envOnly?: boolean;
  readonly section: 'cluster' | 'encryption';
  readonly toml: string;
  readonly env: string;
  readonly kind: Kind;
  readonly override: keyof ConfigOverrides | undefined;
}

const K = <T extends Kind>(section: KeySpec['section'], toml: string, env: string, kind: T, override?: keyof ConfigOverrides): KeySpec & { readonly kind: T } => ({
  section,
  toml,
  env,
  kind,
  override,
});

/** Every key Lifeboat reads: TOML name, env var, type. */
export const KEYS = {
  nodeId: K('cluster', 'node_id', 'HQL_NODE_ID', 'u64', 'nodeId'),
  dataDir: K('cluster', 'data_dir', 'HQL_DATA_DIR', 'string', 'dataDir'),
  filenameDb: K('cluster', 'filename_db', 'HQL_FILENAME_DB', 'string', 'filenameDb'),
  backupCron: K('cluster', 'backup_cron', 'HQL_BACKUP_CRON', 'string', 'backupCron'),
  backupCronTz: K('cluster', 'backup_cron_tz', 'HQL_BACKUP_CRON_TZ', 'string', 'backupCronTz'),
  backupKeepDays: K('cluster', 'backup_keep_days', 'HQL_BACKUP_KEEP_DAYS', 'u16', 'backupKeepDays'),
  backupKeepDaysLocal: K('cluster', 'backup_keep_days_local', 'HQL_BACKUP_KEEP_DAYS_LOCAL', 'u16', 'backupKeepDaysLocal'),
  s3Url: K('cluster', 's3_url', 'HQL_S3_URL', 'string', 's3Url'),
  s3Bucket: K('cluster', 's3_bucket', 'HQL_S3_BUCKET', 'string', 's3Bucket'),
  s3Region: K('cluster', 's3_region', 'HQL_S3_REGION', 'string', 's3Region'),
  s3PathStyle: K('cluster', 's3_path_style', 'HQL_S3_PATH_STYLE', 'bool', 's3PathStyle'),
  s3Key: K('cluster', 's3_key', 'HQL_S3_KEY', 'secret', 's3Key'),
  s3Secret: K('cluster', 's3_secret', 'HQL_S3_SECRET', 'secret', 's3Secret'),
  s3Prefix: K('cluster', 's3_prefix', 'HQL_S3_PREFIX', 'string', 's3Prefix'),
  restore: { ...K('cluster', 'backup_restore', 'HQL_BACKUP_RESTORE', 'string'), envOnly: true },
  skipValidation: { ...K('cluster', 'backup_skip_validation', 'HQL_BACKUP_SKIP_VALIDATION', 'bool'), envOnly: true },
  restoreForce: { ...K('cluster', 'backup_restore_force', 'HQL_BACKUP_RESTORE_FORCE', 'bool'), envOnly: true },
  expectTables: K('cluster', 'backup_restore_expect_tables', 'HQL_BACKUP_RESTORE_EXPECT_TABLES', 'strings', 'backupRestoreExpectTables'),
  encKeys: K('encryption', 'keys', 'ENC_KEYS', 'strings', 'encKeys'),
  encKeyActive: K('encryption', 'key_active', 'ENC_KEY_ACTIVE', 'string', 'encKeyActive'),
} as const;

export function nameOf(spec: KeySpec): string {
  return spec.envOnly ? spec.env : `${spec.section}.${spec.toml} (${spec.env})`;
}

type Value = string | number | boolean | readonly string[];

class Reader {
  readonly problems: string[] = [];
  readonly origins: Record<string, Origin> = {};

  constructor(
    private readonly file: Record<string, Record<string, unknown>>,
    private readonly env: NodeJS.ProcessEnv,
    private readonly overrides: ConfigOverrides,
    private readonly fileName: string | undefined,
  ) {}

  /** The raw value with the highest precedence: env > code > file. Empty env values count as unset. */
  private raw(spec: KeySpec): { value: unknown; origin: Origin } | undefined {
    const envValue = this.env[spec.env];
    if (envValue !== undefined && envValue !== '') return { value: envValue, origin: 'env' };
    if (spec.envOnly) return undefined;
    if (spec.override && this.overrides[spec.override] !== undefined) return { value: this.overrides[spec.override], origin: 'code' };
    const fromFile = this.file[spec.section]?.[spec.toml];
    if (fromFile !== undefined) return { value: fromFile, origin: 'file' };
    return undefined;
  }

  private bad(spec: KeySpec, origin: Origin, value: unknown, problem: string): undefined {
    const shown = spec.kind === 'secret' ? '***' : JSON.stringify(value);
    const where = origin === 'file' ? ` in ${this.fileName}` : origin === 'code' ? ' (set in code)' : '';
    this.problems.push(`${nameOf(spec)}${where}: ${shown} ${problem}`);
    return undefined;
  }

  get(spec: KeySpec & { kind: 'string' | 'secret' }): string | undefined;
  get(spec: KeySpec & { kind: 'u64' | 'u16' }): number | undefined;
  get(spec: KeySpec & { kind: 'bool' }): boolean | undefined;
  get(spec: KeySpec & { kind: 'strings' }): readonly string[] | undefined;
  get(spec: KeySpec): Value | undefined {
    const found = this.raw(spec);
    if (!found) return undefined;
    const { value, origin } = found;
    this.origins[spec.toml] = origin;
    switch (spec.kind) {
      case 'string':
      case 'secret':
        if (typeof value !== 'string') return this.bad(spec, origin, value, 'must be a string');
        if (value.trim() === '') return this.bad(spec, origin, value, 'must not be empty');
        return value;
      case 'u64':
      case 'u16': {
        const max = spec.kind === 'u16' ? 65_535 : Number.MAX_SAFE_INTEGER;
        const n = typeof value === 'number' || typeof value === 'bigint' ? Number(value) : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
        if (!Number.isSafeInteger(n) || n < 0 || n > max) {
          const what = spec.kind === 'u16' ? `a whole number of days (0..${max})` : `a whole number (1..${max})`;
          return this.bad(spec, origin, value, `is not ${what}`);
        }
        return n;
      }
      case 'bool':
        // As Hiqlite (Rust's bool::from_str): exactly "true" or "false".
        if (typeof value === 'boolean') return value;
        if (origin === 'env' && value === 'true') return true;
        if (origin === 'env' && value === 'false') return false;
        return this.bad(spec, origin, value, 'must be true or false');
      case 'strings':
        if (typeof value === 'string') return spec.env === 'ENC_KEYS' ? splitEnvKeys(value) : value.split(',').map((s) => s.trim()).filter(Boolean);
        if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
        return this.bad(spec, origin, spec.env === 'ENC_KEYS' ? '***' : value, 'must be a list of strings');
    }
  }
}

function readToml(path: string, required: boolean): { data: Record<string, Record<string, unknown>>; file: string | undefined } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return { data: {}, file: undefined };
    throw new ConfigError([`config file ${path}: ${code === 'ENOENT' ? 'does not exist' : (err as Error).message}`], { hint: 'pass an existing file with --config, or leave it out to use defaults and HQL_* variables' });
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const where = err instanceof TomlError ? ` at line ${err.line}, column ${err.column}` : '';
    const first = (err as Error).message.split('\n')[0];
    throw new ConfigError([`config file ${path}: invalid TOML${where}: ${first}`], { hint: 'fix the syntax at that position' });
  }
  const problems: string[] = [];
  const data: Record<string, Record<string, unknown>> = {};
  for (const section of ['cluster', 'encryption'] as const) {
    const value = parsed[section];
    if (value === undefined) continue;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) problems.push(`config file ${path}: [${section}] must be a table`);
    else data[section] = value as Record<string, unknown>;
  }
  if (problems.length) throw new ConfigError(problems);
  return { data, file: path };
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * The one typed, validated configuration: environment > code overrides > TOML file > default.
 * Collects every problem before failing, so an operator can fix them in one go.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicit = options.configFile ?? (env.LIFEBOAT_CONFIG || undefined);
  const path = resolve(cwd, explicit ?? DEFAULT_CONFIG_FILE);
  const { data, file } = readToml(path, explicit !== undefined);
  const r = new Reader(data, env, options.overrides ?? {}, file);

  const nodeId = r.get(KEYS.nodeId) ?? DEFAULTS.nodeId;
  if (nodeId < 1) r.problems.push(`${nameOf(KEYS.nodeId)}: ${nodeId} is not a whole number (1..${Number.MAX_SAFE_INTEGER}); node ids start at 1`);
  const dataDir = r.get(KEYS.dataDir) ?? DEFAULTS.dataDir;
  const filenameDb = r.get(KEYS.filenameDb) ?? DEFAULTS.filenameDb;
  if (/[/\\]/.test(filenameDb) || filenameDb === '.' || filenameDb === '..') {
    r.problems.push(`${nameOf(KEYS.filenameDb)}: "${filenameDb}" must be a file name without folders; the folder is {data_dir}/state_machine/db`);
  }
  const backupCron = r.get(KEYS.backupCron) ?? DEFAULTS.backupCron;
  const backupCronTz = r.get(KEYS.backupCronTz);
  if (backupCronTz !== undefined && !validTimeZone(backupCronTz)) {
    r.problems.push(`${nameOf(KEYS.backupCronTz)}: "${backupCronTz}" is not a known IANA time zone (e.g. Europe/Berlin, UTC)`);
  } else {
    try {
      const schedule = parseCron(backupCron, backupCronTz ? { timeZone: backupCronTz } : {});
      if (!schedule.next(new Date())) r.problems.push(`${nameOf(KEYS.backupCron)}: "${backupCron}" never fires again (no matching time before 2100)`);
    } catch (err) {
      r.problems.push(`${nameOf(KEYS.backupCron)}: ${(err as Error).message}`);
    }
  }
  const backupKeepDays = r.get(KEYS.backupKeepDays) ?? DEFAULTS.backupKeepDays;
  const backupKeepDaysLocal = r.get(KEYS.backupKeepDaysLocal) ?? DEFAULTS.backupKeepDaysLocal;

  const { s3, requested: s3Requested } = readS3(r);
  const encryption = readKeys(r, s3Requested);

  const restore: RestoreConfig = {
    source: r.get(KEYS.restore),
    skipValidation: r.get(KEYS.skipValidation) ?? false,
    force: r.get(KEYS.restoreForce) ?? false,
    expectTables: r.get(KEYS.expectTables) ?? [],
  };

  if (r.problems.length > 0) {
    throw new ConfigError(r.problems, { hint: `see docs/configuration.md${file ? `; config file: ${file}` : ''}` });
  }

  const absData = isAbsolute(dataDir) ? dataDir : resolve(cwd, dataDir);
  const dbDir = join(absData, 'state_machine', 'db');
  const config: Config = Object.freeze({
    nodeId,
    dataDir,
    filenameDb,
    backupCron,
    backupCronTz,
    backupKeepDays,
    backupKeepDaysLocal,
    s3,
    encryption,
    restore: Object.freeze(restore),
    paths: Object.freeze({ dataDir: absData, dbDir, dbFile: join(dbDir, filenameDb), backupsDir: join(absData, 'state_machine', 'backups') }),
    configFile: file,
  });
  origins.set(config, Object.freeze({ ...r.origins }));
  return config;
}

function readS3(r: Reader): { s3: S3Config | undefined; requested: boolean } {
  const url = r.get(KEYS.s3Url);
  const bucket = r.get(KEYS.s3Bucket);
  const region = r.get(KEYS.s3Region);
  const pathStyle = r.get(KEYS.s3PathStyle) ?? DEFAULTS.s3PathStyle;
  const key = r.get(KEYS.s3Key);
  const secret = r.get(KEYS.s3Secret);
  const prefix = r.get(KEYS.s3Prefix) ?? DEFAULTS.s3Prefix;
  if (url === undefined) return { s3: undefined, requested: false };
  let ok = true;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    if (u.username || u.password) {
      r.problems.push(`${nameOf(KEYS.s3Url)}: the URL must not contain credentials; use s3_key / s3_secret`);
      ok = false;
    }
  } catch {
    r.problems.push(`${nameOf(KEYS.s3Url)}: ${JSON.stringify(url)} is not an http(s) URL, e.g. https://s3.example.com`);
    ok = false;
  }
  for (const [spec, value] of [
    [KEYS.s3Bucket, bucket],
    [KEYS.s3Region, region],
    [KEYS.s3Key, key],
    [KEYS.s3Secret, secret],
  ] as const) {
    if (value === undefined) {
      r.problems.push(`${nameOf(spec)}: required when s3_url is set`);
      ok = false;
    }
  }
  if (prefix.startsWith('/')) {
    r.problems.push(`${nameOf(KEYS.s3Prefix)}: "${prefix}" must not start with "/" (use e.g. "backups/")`);
    ok = false;
  }
  if (!ok || !bucket || !region || !key || !secret) return { s3: undefined, requested: true };
  const s3: S3Config = { url, bucket, region, pathStyle, key, secret, prefix };
  // The secret must not escape through JSON.stringify or console.log of a config object.
  const shown = { ...s3, key: '***', secret: '***' };
  Object.defineProperty(s3, 'toJSON', { value: () => shown });
  Object.defineProperty(s3, Symbol.for('nodejs.util.inspect.custom'), { value: () => shown });
  return { s3: Object.freeze(s3), requested: true };
}

function readKeys(r: Reader, s3Configured: boolean): KeySet | undefined {
  const entries = r.get(KEYS.encKeys);
  const active = r.get(KEYS.encKeyActive);
  if (entries === undefined && active === undefined) {
    if (s3Configured) {
      r.problems.push(`${nameOf(KEYS.encKeys)}: S3 backups are always encrypted, but no keys are configured; set ENC_KEYS and ENC_KEY_ACTIVE (create a key with \`lifeboat keys generate\`)`);
    }
    return undefined;
  }
  const { keySet, problems } = parseKeySet({ entries: entries ?? [], active, entriesName: nameOf(KEYS.encKeys), activeName: nameOf(KEYS.encKeyActive) });
  r.problems.push(...problems);
  return keySet;
}
