import { KEY_LIST, type ShownValue } from './keys.js';
import { type Origin, originsOf, warningsOf } from './load.js';
import type { Config, ConfigPaths } from './types.js';

export { SECRET_MASK, type ShownValue } from './keys.js';

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

/**
 * The effective configuration for people: every value with its origin (`default`, `file`,
 * `code`, `env`), secrets as `***`, key ids but never key material.
 */
export function describeConfig(config: Config): ConfigView {
  const origins = originsOf(config);
  const entries: ConfigEntry[] = [];
  for (const spec of KEY_LIST) {
    const shown = spec.show(config);
    if (!shown) continue;
    entries.push({
      key: spec.envOnly ? spec.env : `${spec.section}.${spec.toml}`,
      env: spec.envOnly ? '' : spec.env,
      value: shown.value,
      origin: origins[spec.toml] ?? 'default',
      ...(shown.note ? { note: shown.note } : {}),
      ...(spec.lifeboatOnly ? { lifeboatOnly: true as const } : {}),
    });
  }
  const enc = config.encryption;
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
