import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { type KeySet, parseKeySet, splitEnvKeys } from '../crypto/keys.js';
import { ConfigError } from '../errors.js';
import { parseRestoreSource } from '../restore/source.js';
import { parseCron } from '../schedule/cron.js';
import {
  CLUSTER_TABLE,
  CONFIG_FILE_ENV,
  DEFAULT_CONFIG_FILE,
  HIQLITE_OTHER_CLUSTER_KEYS,
  HIQLITE_SECRETS_REF,
} from './defaults.js';
import { KEY_LIST, KEYS, type KeyOf, type KeySpec, type Kind, type KindValues, nameOf, SECTIONS } from './keys.js';
import type { Config, ConfigOverrides, HeartbeatConfig, PitrConfig, RestoreConfig, S3Config } from './types.js';

export type { ConfigOverrides } from './types.js';

export interface LoadOptions {
  /** TOML file; relative to `cwd`. Default: `$LIFEBOAT_CONFIG`, else `config.toml` (may be missing). */
  readonly configFile?: string;
  /** Where HQL_* / ENC_* come from; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Base for relative paths (config file, data_dir); default `process.cwd()`. */
  readonly cwd?: string;
  readonly overrides?: ConfigOverrides;
  /** Host name for `node_id_from = "k8s"`; default `os.hostname()` (injectable for tests). */
  readonly hostname?: string;
}

export type Origin = 'default' | 'file' | 'code' | 'env';

/** Where each effective value came from, by TOML key (for `lifeboat config`). */
export type Origins = Readonly<Record<string, Origin>>;

const originsByConfig = new WeakMap<Config, Origins>();
const warningsByConfig = new WeakMap<Config, readonly string[]>();

export function originsOf(config: Config): Origins {
  return originsByConfig.get(config) ?? {};
}

/**
 * Things that are not errors but probably mistakes: an unknown key in `[cluster]` (typo?),
 * a restore key in the file (ignored: environment only), S3 settings without `s3_url`, …
 */
export function warningsOf(config: Config): readonly string[] {
  return warningsByConfig.get(config) ?? [];
}

const MAX_U16 = 65_535;
const MAX_DURATION_MS = 366 * 86_400_000;
const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `250ms`, `1s`, `1.5s`, `5m`, `2h`, `7d` → milliseconds; a bare number (TOML integer or env digits) is seconds. */
function parseDuration(value: unknown, origin: Origin): number | undefined {
  if (typeof value === 'bigint') return Number(value) * 1000;
  if (typeof value === 'number' && origin !== 'file') return Number.isFinite(value) ? value : undefined;
  return typeof value === 'string' ? durationMs(value) : undefined;
}

/** `250ms`, `1.5s`, `5m`, `2h`, `7d` → milliseconds; a bare number is seconds; undefined when it is none of these. */
export function durationMs(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  return m ? Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 's']!) : undefined;
}
type Tables = Readonly<Record<string, Readonly<Record<string, unknown>>>>;
type Value = KindValues[Kind];

/** A value as it may appear in a message (never for secrets: those are `***`). */
function show(value: unknown): string {
  let text: string;
  if (typeof value === 'bigint') text = String(value);
  else {
    try {
      text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

class Reader {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  readonly origins: Record<string, Origin> = {};

  constructor(
    private readonly file: Tables,
    private readonly env: NodeJS.ProcessEnv,
    private readonly overrides: ConfigOverrides,
    readonly fileName: string | undefined,
  ) {}

  /** The raw value with the highest precedence: env > code > file. Empty env values count as unset. */
  raw(spec: KeySpec): { value: unknown; origin: Origin } | undefined {
    const envValue = this.env[spec.env];
    if (envValue !== undefined && envValue !== '') return { value: envValue, origin: 'env' };
    if (spec.envOnly) return undefined;
    if (spec.override && this.overrides[spec.override] !== undefined)
      return { value: this.overrides[spec.override], origin: 'code' };
    const fromFile = this.file[spec.section]?.[spec.toml];
    if (fromFile !== undefined) return { value: fromFile, origin: 'file' };
    return undefined;
  }

  /** ` in /path/config.toml`, ` (set in code)` or `` (environment: the name says it). */
  where(origin: Origin | undefined): string {
    return origin === 'file' ? ` in ${this.fileName}` : origin === 'code' ? ' (set in code)' : '';
  }

  problem(spec: KeySpec, origin: Origin | undefined, text: string): undefined {
    this.problems.push(`${nameOf(spec)}${this.where(origin)}: ${text}`);
    return undefined;
  }

  private bad(spec: KeySpec, origin: Origin, value: unknown, text: string): undefined {
    const secret = spec.kind === 'secret' || spec.kind === 'keys';
    const shown = secret ? '***' : show(spec === KEYS.s3Url && typeof value === 'string' ? redactUrl(value) : value);
    return this.problem(spec, origin, `${shown} ${text}`);
  }

  /** The checked value, or undefined when unset or invalid (then a problem is recorded). */
  get<K extends Kind>(spec: KeyOf<K>): KindValues[K] | undefined {
    const found = this.raw(spec);
    if (!found) return undefined;
    this.origins[spec.toml] = found.origin;
    return this.check(spec, found.value, found.origin) as KindValues[K] | undefined;
  }

  /** `get`, or the key's default when it is unset or invalid. */
  getOrDefault<K extends Kind>(spec: KeyOf<K> & { readonly default: KindValues[K] }): KindValues[K] {
    return this.get(spec) ?? spec.default;
  }

  private check(spec: KeySpec, value: unknown, origin: Origin): Value | undefined {
    if (
      value === HIQLITE_SECRETS_REF &&
      (spec.kind === 'secret' || spec.kind === 'keys' || spec === KEYS.encKeyActive)
    ) {
      return this.problem(
        spec,
        origin,
        `"${HIQLITE_SECRETS_REF}" (Hiqlite's secrets_file reference) ` +
          `is not supported by Lifeboat; set the value itself, preferably in ${spec.env}`,
      );
    }
    switch (spec.kind) {
      case 'string':
      case 'secret': {
        if (typeof value !== 'string')
          return this.bad(spec, origin, value, origin === 'file' ? 'must be a string (in quotes)' : 'must be a string');
        if (value.trim() === '') return this.bad(spec, origin, value, 'must not be empty');
        if (spec.noSpace && /\s/.test(value)) {
          return this.bad(
            spec,
            origin,
            value,
            /^\S+\s+$/.test(value)
              ? 'ends in whitespace (a stray newline, e.g. from `echo` into a secret?); remove it'
              : 'must not contain whitespace',
          );
        }
        return value;
      }
      case 'u64':
      case 'u16': {
        const min = spec.min ?? 0;
        const max = spec.kind === 'u16' ? MAX_U16 : Number.MAX_SAFE_INTEGER;
        const range = `a whole number${spec.unit ? ` of ${spec.unit}` : ''} (${min}..${max})`;
        let n = NaN;
        let note = '';
        if (typeof value === 'bigint')
          n =
            value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : NaN;
        else if (typeof value === 'number' && origin === 'file')
          note = '; TOML floats are not allowed, write it without a decimal point';
        else if (typeof value === 'number') n = value;
        else if (typeof value === 'string' && origin === 'env' && /^\+?\d+$/.test(value.trim()))
          n = Number(value.trim());
        if (!Number.isSafeInteger(n) || n < min || n > max) {
          if (n === 0 && spec === KEYS.nodeId) note = '; node ids start at 1';
          return this.bad(spec, origin, value, `is not ${range}${note}`);
        }
        return n;
      }
      case 'bool':
        // As Hiqlite and Rauthy (Rust's `str::parse::<bool>`): exactly "true" or "false".
        if (typeof value === 'boolean') return value;
        if (origin === 'env' && value === 'true') return true;
        if (origin === 'env' && value === 'false') return false;
        return this.bad(
          spec,
          origin,
          value,
          origin === 'env'
            ? 'must be true or false (lower case, exactly)'
            : 'must be true or false (a TOML boolean, without quotes)',
        );
      case 'strings':
      case 'keys': {
        let list: string[];
        if (typeof value === 'string' && origin === 'env') {
          list =
            spec.kind === 'keys'
              ? splitEnvKeys(value)
              : value
                  .split(',')
                  .map((s) => s.trim())
                  .filter(Boolean);
        } else if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) {
          list = spec.kind === 'keys' ? value : value.map((s) => s.trim());
        } else {
          return this.bad(
            spec,
            origin,
            value,
            origin === 'file' ? 'must be an array of strings, e.g. ["a", "b"]' : 'must be a list of strings',
          );
        }
        if (spec.kind === 'strings' && list.some((s) => s === ''))
          return this.bad(spec, origin, value, 'must not contain empty names');
        if (spec.kind === 'keys' && list.includes(HIQLITE_SECRETS_REF)) {
          return this.problem(
            spec,
            origin,
            `"${HIQLITE_SECRETS_REF}" (Hiqlite's secrets_file reference) ` +
              `is not supported by Lifeboat; set the keys themselves`,
          );
        }
        return Object.freeze(list);
      }
      case 'duration': {
        const ms = parseDuration(value, origin);
        const min = spec.min ?? 0;
        if (ms === undefined || ms < min || ms > MAX_DURATION_MS) {
          return this.bad(
            spec,
            origin,
            value,
            `is not a duration from ${min}ms to 366d: a number and a unit (ms, s, m, h, d), e.g. "1s" or "250ms"`,
          );
        }
        return ms;
      }
      case 'ratio': {
        const min = spec.min ?? 0;
        const max = spec.max ?? Number.MAX_SAFE_INTEGER;
        let n = NaN;
        if (typeof value === 'number') n = value;
        else if (typeof value === 'bigint') n = Number(value);
        else if (typeof value === 'string' && origin === 'env' && /^\+?(\d+\.?\d*|\.\d+)$/.test(value.trim()))
          n = Number(value.trim());
        if (!Number.isFinite(n) || n < min || n > max)
          return this.bad(spec, origin, value, `is not a number from ${min} to ${max}, e.g. 3 or 1.5`);
        return n;
      }
      case 'restoreSource':
        if (typeof value !== 'string') return this.bad(spec, origin, value, 'must be a string');
        try {
          return parseRestoreSource(value, nameOf(spec));
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          this.problems.push(...err.problems);
          return undefined;
        }
    }
  }

  /** Whether any source sets this key (without validating it). */
  isSet(spec: KeySpec): boolean {
    return this.raw(spec) !== undefined;
  }
}

function readToml(path: string, required: boolean): { tables: Tables; file: string | undefined } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return { tables: {}, file: undefined };
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EISDIR'
          ? 'is a folder, not a file'
          : code === 'EACCES'
            ? 'is not readable (permission denied)'
            : (err as Error).message;
    throw new ConfigError([`config file ${path}: ${why}`], {
      hint:
        'pass an existing file with --config (or LIFEBOAT_CONFIG), ' +
        'or leave both out to use defaults and HQL_* variables',
    });
  }
  let parsed: Record<string, unknown>;
  try {
    // Integers as BigInt: a TOML float (1.0) stays distinguishable from an integer (1).
    parsed = parseToml(text, { integersAsBigInt: true }) as Record<string, unknown>;
  } catch (err) {
    const where = err instanceof TomlError ? ` at line ${err.line}, column ${err.column}` : '';
    // Only the first line: smol-toml appends the offending source line, which may hold a secret.
    const first = (err as Error).message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    throw new ConfigError([`config file ${path}: invalid TOML${where}: ${first}`], {
      hint: 'fix the syntax at that position',
    });
  }
  const problems: string[] = [];
  const tables: Record<string, Record<string, unknown>> = {};
  for (const section of SECTIONS) {
    const value = parsed[section];
    if (value === undefined) continue;
    if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date)
      problems.push(`config file ${path}: ${section} must be a table ([${section}])`);
    else tables[section] = value as Record<string, unknown>;
  }
  if (parsed[CLUSTER_TABLE] === undefined && typeof parsed.hiqlite === 'object' && parsed.hiqlite !== null) {
    problems.push(
      `config file ${path}: has a [hiqlite] table but no [cluster] table; Lifeboat reads [cluster], ` +
        `as Rauthy names it. Rename the table (or copy the backup keys into [cluster])`,
    );
  }
  if (problems.length) throw new ConfigError(problems);
  return { tables, file: path };
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Edit distance, for "did you mean". Small inputs only. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

function unknownKeyWarnings(r: Reader, tables: Tables): void {
  for (const section of SECTIONS) {
    const table = tables[section];
    if (!table) continue;
    const ours = KEY_LIST.filter((s) => s.section === section);
    const known = new Set([...ours.map((s) => s.toml), ...(section === 'cluster' ? HIQLITE_OTHER_CLUSTER_KEYS : [])]);
    for (const key of Object.keys(table)) {
      const spec = ours.find((s) => s.toml === key);
      if (spec?.envOnly) {
        r.warnings.push(`${section}.${key} in ${r.fileName} is ignored: ${spec.env} is read from the environment only`);
      } else if (section === 'cluster' && (key === 'enc_keys' || key === 'enc_key_active')) {
        r.warnings.push(
          `cluster.${key} in ${r.fileName} is ignored: it is standalone Hiqlite's name; Lifeboat reads ` +
            `[encryption] ${key === 'enc_keys' ? 'keys' : 'key_active'} or ${key.toUpperCase()}, as Rauthy does`,
        );
      } else if (!known.has(key)) {
        const near = [...known]
          .filter((k) => !ours.find((s) => s.toml === k)?.envOnly)
          .sort((a, b) => distance(key, a) - distance(key, b))[0];
        const hint = near !== undefined && distance(key, near) <= 2 ? ` (did you mean ${near}?)` : '';
        r.warnings.push(
          `${section}.${key} in ${r.fileName} is not a key Lifeboat or Hiqlite knows; it is ignored${hint}`,
        );
      }
    }
  }
}

/** Derives the node id as Hiqlite does for StatefulSets: `name-<ordinal>` → ordinal + 1. */
function nodeIdFromHostname(r: Reader, host: string): number | undefined {
  const match = /-(\d+)$/.exec(host);
  const n = match ? Number(match[1]) + 1 : NaN;
  if (!Number.isSafeInteger(n)) {
    return r.problem(
      KEYS.nodeIdFrom,
      r.origins.node_id_from,
      `"k8s" needs a host name ending in -<ordinal>, like a StatefulSet pod (rauthy-0 → node 1), ` +
        `but this host is ${JSON.stringify(host)}; set node_id / HQL_NODE_ID instead`,
    );
  }
  return n;
}

/** `https://user:***@host/…` — credentials in a URL are never echoed. */
function redactUrl(url: string): string {
  return url.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/@]*@/, '$1***@');
}

/**
 * The one typed, validated configuration: environment > code overrides > TOML file > default.
 * Collects every problem before failing, so an operator can fix them in one go.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = resolve(options.cwd ?? process.cwd());
  const fromEnv = env[CONFIG_FILE_ENV];
  const named = options.configFile ?? (fromEnv === '' ? undefined : fromEnv);
  const path = resolve(cwd, named ?? DEFAULT_CONFIG_FILE);
  const { tables, file } = readToml(path, named !== undefined);
  const r = new Reader(tables, env, options.overrides ?? {}, file);
  unknownKeyWarnings(r, tables);

  const nodeIdFrom = r.get(KEYS.nodeIdFrom);
  let nodeId: number | undefined;
  if (nodeIdFrom !== undefined && nodeIdFrom !== 'k8s') {
    r.problem(
      KEYS.nodeIdFrom,
      r.origins.node_id_from,
      `${show(nodeIdFrom)} is not supported; the only value is "k8s" (node ` +
        `id from the StatefulSet host name); or leave it unset and set node_id`,
    );
  }
  const fromK8s = nodeIdFrom === 'k8s';
  if (fromK8s) {
    nodeId = nodeIdFromHostname(r, options.hostname ?? osHostname());
    r.origins.node_id = r.origins.node_id_from!;
    if (r.isSet(KEYS.nodeId))
      r.warnings.push(`${nameOf(KEYS.nodeId)} is ignored because node_id_from = "k8s" (as in Hiqlite)`);
  } else {
    nodeId = r.get(KEYS.nodeId);
  }
  const dataDir = r.getOrDefault(KEYS.dataDir);
  const filenameDb = r.getOrDefault(KEYS.filenameDb);
  if (/[/\\]/.test(filenameDb) || filenameDb === '.' || filenameDb === '..') {
    r.problem(
      KEYS.filenameDb,
      r.origins.filename_db,
      `${show(filenameDb)} must be a file name without folders; the folder is {data_dir}/state_machine/db`,
    );
  }
  const backupCron = r.getOrDefault(KEYS.backupCron);
  const backupCronTz = r.get(KEYS.backupCronTz);
  if (backupCronTz !== undefined && !validTimeZone(backupCronTz)) {
    r.problem(
      KEYS.backupCronTz,
      r.origins.backup_cron_tz,
      `${show(backupCronTz)} is not a known IANA time zone (e.g. Europe/Berlin, UTC)`,
    );
  } else {
    try {
      const schedule = parseCron(backupCron, backupCronTz ? { timeZone: backupCronTz } : {});
      if (!schedule.next(new Date()))
        r.problem(
          KEYS.backupCron,
          r.origins.backup_cron,
          `${show(backupCron)} never fires again (no matching time before 2100)`,
        );
    } catch (err) {
      r.problem(KEYS.backupCron, r.origins.backup_cron, (err as Error).message);
    }
  }
  const backupKeepDays = r.getOrDefault(KEYS.backupKeepDays);
  const backupKeepDaysLocal = r.getOrDefault(KEYS.backupKeepDaysLocal);
  const backupKeepMin = r.getOrDefault(KEYS.backupKeepMin);

  const { s3, requested: s3Requested } = readS3(r);
  const s3Timeout = r.getOrDefault(KEYS.s3Timeout);
  const encryption = readKeys(r, s3Requested);
  const heartbeat = readHeartbeat(r);
  const pitr: PitrConfig = Object.freeze({
    enabled: r.getOrDefault(KEYS.pitrEnabled),
    syncIntervalMs: r.getOrDefault(KEYS.pitrSyncInterval),
    windowMs: r.getOrDefault(KEYS.pitrWindow),
    rebaseEveryMs: r.getOrDefault(KEYS.pitrRebaseEvery),
    rebaseRatio: r.getOrDefault(KEYS.pitrRebaseRatio),
    checkpointPages: r.getOrDefault(KEYS.pitrCheckpointPages),
    walHardPages: r.getOrDefault(KEYS.pitrWalHardPages),
    walMaxPages: r.getOrDefault(KEYS.pitrWalMaxPages),
  });
  if (pitr.walHardPages < pitr.checkpointPages) {
    r.problem(
      KEYS.pitrWalHardPages,
      r.origins.wal_hard_pages,
      `${pitr.walHardPages} is below checkpoint_pages (${pitr.checkpointPages}): set it to at least that ` +
        '(every checkpoint would wait for the write lock)',
    );
  }
  if (pitr.enabled && !s3Requested) {
    r.problem(
      KEYS.pitrEnabled,
      r.origins.enabled,
      'continuous backup ships to S3: set s3_url (HQL_S3_URL) and the other S3 keys, and ENC_KEYS, or turn it off',
    );
  }

  const restore: RestoreConfig = Object.freeze({
    source: r.get(KEYS.restore),
    skipValidation: r.getOrDefault(KEYS.skipValidation),
    force: r.getOrDefault(KEYS.restoreForce),
    expectTables: Object.freeze(r.getOrDefault(KEYS.expectTables)),
    ifMissing: r.get(KEYS.restoreIfMissing),
  });

  if (r.problems.length > 0) {
    throw new ConfigError(r.problems, {
      hint: `every setting is described in docs/configuration.md${file ? `; config file: ${file}` : ''}`,
    });
  }

  const absData = resolve(cwd, dataDir);
  const dbDir = join(absData, 'state_machine', 'db');
  const config: Config = Object.freeze({
    nodeId: nodeId ?? KEYS.nodeId.default,
    ...(fromK8s ? { nodeIdFrom: 'k8s' as const } : {}),
    dataDir,
    filenameDb,
    backupCron,
    backupCronTz,
    backupKeepDays,
    backupKeepDaysLocal,
    backupKeepMin,
    s3,
    s3Timeout,
    heartbeat,
    encryption,
    restore,
    pitr,
    paths: Object.freeze({
      dataDir: absData,
      dbDir,
      dbFile: join(dbDir, filenameDb),
      backupsDir: join(absData, 'state_machine', 'backups'),
    }),
    configFile: file,
  });
  originsByConfig.set(config, Object.freeze({ ...r.origins }));
  warningsByConfig.set(config, Object.freeze([...r.warnings]));
  return config;
}

function readS3(r: Reader): { s3: S3Config | undefined; requested: boolean } {
  const url = r.get(KEYS.s3Url);
  const urlGiven = r.isSet(KEYS.s3Url);
  if (!urlGiven) {
    const stray = [KEYS.s3Bucket, KEYS.s3Region, KEYS.s3Key, KEYS.s3Secret, KEYS.s3Prefix, KEYS.s3Timeout]
      .filter((s) => r.isSet(s))
      .map((s) => `${s.section}.${s.toml}`);
    if (stray.length > 0)
      r.warnings.push(
        `${stray.join(', ')} ${stray.length === 1 ? 'is' : 'are'} ` +
          `set but ${nameOf(KEYS.s3Url)} is not, so S3 backups are off`,
      );
    // Still validate the types, so a wrong value is reported before S3 is switched on.
  }
  const bucket = r.get(KEYS.s3Bucket);
  const region = r.get(KEYS.s3Region);
  const pathStyle = r.getOrDefault(KEYS.s3PathStyle);
  const key = r.get(KEYS.s3Key);
  const secret = r.get(KEYS.s3Secret);
  const prefix = r.getOrDefault(KEYS.s3Prefix);
  if (prefix.startsWith('/'))
    r.problem(
      KEYS.s3Prefix,
      r.origins.s3_prefix,
      `${show(prefix)} must not start with "/": object keys are relative to the bucket (use e.g. "prod/")`,
    );
  if (!urlGiven) return { s3: undefined, requested: false };

  let ok = url !== undefined;
  if (url !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.hostname) {
      r.problem(
        KEYS.s3Url,
        r.origins.s3_url,
        `${show(redactUrl(url))} is not an http(s) URL; give the endpoint, e.g. https://s3.example.com`,
      );
      ok = false;
    } else if (parsed.username || parsed.password) {
      r.problem(
        KEYS.s3Url,
        r.origins.s3_url,
        'the URL must not contain credentials; put them in s3_key / s3_secret (HQL_S3_KEY / HQL_S3_SECRET)',
      );
      ok = false;
    }
  }
  for (const spec of KEY_LIST.filter((s) => s.requiredWithS3)) {
    if (!r.isSet(spec)) {
      r.problem(
        spec,
        undefined,
        `required when s3_url is set; set ${spec.env} (or ${spec.section}.${spec.toml} in the file)`,
      );
      ok = false;
    }
  }
  if (bucket?.includes('/')) {
    r.problem(
      KEYS.s3Bucket,
      r.origins.s3_bucket,
      `${show(bucket)} must be a bucket name, not a path; use s3_prefix for a folder inside the bucket`,
    );
    ok = false;
  }
  if (
    !ok ||
    url === undefined ||
    bucket === undefined ||
    region === undefined ||
    key === undefined ||
    secret === undefined ||
    prefix.startsWith('/')
  ) {
    return { s3: undefined, requested: true };
  }
  const s3: S3Config = { url, bucket, region, pathStyle, key, secret, prefix };
  // The credentials must not escape through JSON.stringify or console.log of a config object.
  const shown = Object.freeze({ ...s3, key: '***', secret: '***' });
  Object.defineProperty(s3, 'toJSON', { value: () => shown });
  Object.defineProperty(s3, Symbol.for('nodejs.util.inspect.custom'), { value: () => shown });
  return { s3: Object.freeze(s3), requested: true };
}

/** The heartbeat URL is checked without ever being echoed: its path usually holds a token. */
function readHeartbeat(r: Reader): HeartbeatConfig | undefined {
  const url = r.get(KEYS.heartbeatUrl);
  const methodText = r.getOrDefault(KEYS.heartbeatMethod);
  const method = methodText.toUpperCase();
  if (method !== 'GET' && method !== 'POST') {
    r.problem(KEYS.heartbeatMethod, r.origins.backup_heartbeat_method, `${show(methodText)} is not GET or POST`);
    return undefined;
  }
  if (url === undefined) {
    if (r.isSet(KEYS.heartbeatMethod) && !r.isSet(KEYS.heartbeatUrl))
      r.warnings.push(`${nameOf(KEYS.heartbeatMethod)} is set but ${nameOf(KEYS.heartbeatUrl)} is not: no heartbeat`);
    return undefined;
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  const origin = r.origins.backup_heartbeat_url;
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.hostname) {
    return r.problem(
      KEYS.heartbeatUrl,
      origin,
      'is not an http(s) URL (the value is not shown: it may hold a token); give the full URL the ' +
        'service shows, e.g. https://hc-ping.com/<uuid>',
    );
  }
  if (parsed.username || parsed.password) {
    return r.problem(
      KEYS.heartbeatUrl,
      origin,
      'must not contain user:password@; use the token URL the service gives (a token in the path or query)',
    );
  }
  const heartbeat: HeartbeatConfig = { url, method };
  // The URL must not escape through JSON.stringify or console.log of a config object.
  const shown = Object.freeze({ url: '***', method });
  Object.defineProperty(heartbeat, 'toJSON', { value: () => shown });
  Object.defineProperty(heartbeat, Symbol.for('nodejs.util.inspect.custom'), { value: () => shown });
  return Object.freeze(heartbeat);
}

function readKeys(r: Reader, s3Requested: boolean): KeySet | undefined {
  const entriesSet = r.isSet(KEYS.encKeys);
  const activeSet = r.isSet(KEYS.encKeyActive);
  const entries = r.get(KEYS.encKeys);
  const active = r.get(KEYS.encKeyActive);
  if (!entriesSet && !activeSet) {
    if (s3Requested) {
      r.problems.push(
        `${nameOf(KEYS.encKeys)}: S3 backups are always encrypted, but no keys are configured; set ENC_KEYS and ` +
          `ENC_KEY_ACTIVE (\`lifeboat keys generate\` prints a key), or [encryption] keys / key_active in the file`,
      );
    }
    return undefined;
  }
  // A wrong type or "$SECRETS" was reported already; do not pile "not set" on top.
  if ((entriesSet && entries === undefined) || (activeSet && active === undefined)) return undefined;
  const { keySet, problems } = parseKeySet({
    entries: entries ?? [],
    active,
    entriesName: `${nameOf(KEYS.encKeys)}${r.where(r.origins.keys)}`,
    activeName: `${nameOf(KEYS.encKeyActive)}${r.where(r.origins.key_active)}`,
  });
  r.problems.push(...problems);
  return keySet;
}
