import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DOC_BLOCKS, DOC_FILE, DOC_SCRIPT, docDefault, renderConfigDoc } from '../../src/config/doc.js';
import { type AnyKeySpec, KEY_LIST, KEYS, type Kind, SECTIONS } from '../../src/config/keys.js';
import { loadConfig, originsOf } from '../../src/config/load.js';
import { describeConfig } from '../../src/config/redact.js';
import type { ConfigOverrides } from '../../src/config/types.js';
import { generateKey } from '../../src/crypto/keys.js';
import { tempDir } from '../support/tmp.js';

const DOC_PATH = fileURLToPath(new URL(`../../${DOC_FILE}`, import.meta.url));
const KEY = generateKey('k1');

/** The rows between one block's markers, split into trimmed cells (header and rule left out). */
function docRows(markdown: string, id: string): string[][] {
  const from = markdown.indexOf(`<!-- BEGIN config-keys:${id} `);
  const to = markdown.indexOf(`<!-- END config-keys:${id} -->`);
  assert.ok(from >= 0 && to > from, `${DOC_FILE} has no "${id}" block`);
  return markdown
    .slice(from, to)
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(2)
    .map((line) =>
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
}

test(`${DOC_FILE} is generated from the key table (run \`${DOC_SCRIPT}\` after changing src/config/keys.ts)`, () => {
  const markdown = readFileSync(DOC_PATH, 'utf8');
  assert.ok(
    renderConfigDoc(markdown) === markdown,
    `${DOC_FILE} is out of date with src/config/keys.ts: run \`${DOC_SCRIPT}\` and commit the result`,
  );
});

test(`${DOC_FILE} lists exactly the table's keys, with their environment variables and defaults`, () => {
  const markdown = readFileSync(DOC_PATH, 'utf8');
  const rows = DOC_BLOCKS.flatMap((block) => docRows(markdown, block.id));
  assert.deepEqual(
    rows.map((cells) => cells[1]).sort(),
    KEY_LIST.map((spec) => `\`${spec.env}\``).sort(),
    `the key tables of ${DOC_FILE} against src/config/keys.ts`,
  );
  for (const spec of KEY_LIST) {
    const row = rows.find((cells) => cells[1] === `\`${spec.env}\``);
    assert.ok(row, `${spec.env} is not in ${DOC_FILE}`);
    assert.equal(row[0], spec.envOnly ? '—' : `\`${spec.toml}\``, spec.env);
    assert.equal(row[2], docDefault(spec), spec.env);
    if (spec.default !== undefined && spec.unset === undefined) assert.equal(row[2], `\`${String(spec.default)}\``);
  }
});

test('every key is in exactly one of the doc blocks; a block whose markers are missing names itself', () => {
  for (const spec of KEY_LIST) {
    assert.equal(DOC_BLOCKS.filter((b) => b.keys(spec)).length, 1, `${spec.section}.${spec.toml}`);
  }
  assert.throws(
    () => renderConfigDoc('# Configuration\n'),
    new RegExp(
      'the markers of the "cluster" key table are missing; .*\n' +
        '<!-- BEGIN config-keys:cluster .*-->\n<!-- END config-keys:cluster -->\nwhere the table belongs',
    ),
  );
  const doc = readFileSync(DOC_PATH, 'utf8');
  const stale = doc.replace('| `HQL_NODE_ID` ', '| `HQL_NODE_ID_TYPO` ');
  assert.notEqual(stale, doc);
  assert.equal(renderConfigDoc(stale), renderConfigDoc(doc), 'the script rewrites the generated rows');
});

test("Hiqlite's names, environment variables and defaults, exactly", () => {
  const hiqlite = KEY_LIST.filter((s) => !s.lifeboatOnly).map((s) => [s.section, s.toml, s.env, s.default]);
  assert.deepEqual(hiqlite, [
    ['cluster', 'node_id_from', 'HQL_NODE_ID_FROM', undefined],
    ['cluster', 'node_id', 'HQL_NODE_ID', 1],
    ['cluster', 'data_dir', 'HQL_DATA_DIR', 'data'],
    ['cluster', 'filename_db', 'HQL_FILENAME_DB', 'hiqlite.db'],
    ['cluster', 'backup_cron', 'HQL_BACKUP_CRON', '0 30 2 * * * *'],
    ['cluster', 'backup_keep_days', 'HQL_BACKUP_KEEP_DAYS', 30],
    ['cluster', 'backup_keep_days_local', 'HQL_BACKUP_KEEP_DAYS_LOCAL', 3],
    ['cluster', 's3_url', 'HQL_S3_URL', undefined],
    ['cluster', 's3_bucket', 'HQL_S3_BUCKET', undefined],
    ['cluster', 's3_region', 'HQL_S3_REGION', undefined],
    ['cluster', 's3_path_style', 'HQL_S3_PATH_STYLE', true],
    ['cluster', 's3_key', 'HQL_S3_KEY', undefined],
    ['cluster', 's3_secret', 'HQL_S3_SECRET', undefined],
    ['cluster', 'backup_restore', 'HQL_BACKUP_RESTORE', undefined],
    ['cluster', 'backup_skip_validation', 'HQL_BACKUP_SKIP_VALIDATION', false],
    ['encryption', 'keys', 'ENC_KEYS', undefined],
    ['encryption', 'key_active', 'ENC_KEY_ACTIVE', undefined],
  ]);
});

test('the table is consistent: unique names, known sections, env-only keys cannot be set in code', () => {
  const tomlNames = KEY_LIST.map((s) => `${s.section}.${s.toml}`);
  assert.equal(new Set(tomlNames).size, tomlNames.length, 'a TOML key twice');
  assert.equal(new Set(KEY_LIST.map((s) => s.env)).size, KEY_LIST.length, 'an environment variable twice');
  const overrides = KEY_LIST.flatMap((s) => (s.override ? [s.override] : []));
  assert.equal(new Set(overrides).size, overrides.length, 'a ConfigOverrides field twice');
  for (const spec of KEY_LIST) {
    assert.ok((SECTIONS as readonly string[]).includes(spec.section), spec.toml);
    if (spec.envOnly) assert.equal(spec.override, undefined, `${spec.env} is environment-only`);
    assert.ok(spec.doc.length > 0 && !spec.doc.includes('\n'), `${spec.env}: one line of doc`);
  }
});

/** A valid value for every key, as an operator writes it in the environment. */
const SAMPLES: Readonly<Record<keyof typeof KEYS, string>> = {
  nodeIdFrom: 'k8s',
  nodeId: '7',
  dataDir: 'state',
  filenameDb: 'app.db',
  backupCron: '0 0 3 * * * *',
  backupCronTz: 'UTC',
  backupKeepDays: '11',
  backupKeepDaysLocal: '2',
  backupKeepMin: '5',
  s3Url: 'https://s3.example.com',
  s3Bucket: 'bkt',
  s3Region: 'eu-1',
  s3PathStyle: 'false',
  s3Key: 'access',
  s3Secret: 'secret',
  s3Prefix: 'prod/',
  s3Timeout: '45',
  heartbeatUrl: 'https://hc-ping.com/0b8f4c1e-token',
  heartbeatMethod: 'POST',
  expectTables: 'users,sessions',
  restore: 's3:latest',
  skipValidation: 'true',
  restoreForce: 'true',
  restoreIfMissing: 'local:latest',
  encKeys: KEY,
  encKeyActive: 'k1',
  pitrEnabled: 'true',
  pitrSyncInterval: '250ms',
  pitrWindow: '30d',
  pitrRebaseEvery: '12h',
  pitrRebaseRatio: '1.5',
  pitrCheckpointPages: '2000',
  pitrWalHardPages: '8000',
  pitrWalMaxPages: '20000',
};

const list = (kind: Kind, text: string) => (kind === 'keys' ? text.split('\n') : text.split(','));

/** The sample as TOML or as a value set in code. */
function typed(spec: AnyKeySpec, text: string): string | number | boolean | readonly string[] {
  switch (spec.kind) {
    case 'u16':
    case 'u64':
    case 'ratio':
      return Number(text);
    case 'bool':
      return text === 'true';
    case 'strings':
    case 'keys':
      return list(spec.kind, text);
    default:
      return text;
  }
}

test('the loader reads every key of the table from its environment variable, the file and code', () => {
  const names = Object.keys(KEYS) as (keyof typeof KEYS)[];
  const spec = (n: keyof typeof KEYS): AnyKeySpec => KEYS[n];
  assert.deepEqual(Object.keys(SAMPLES).sort(), [...names].sort(), 'give every key a sample value');
  const env = Object.fromEntries(names.map((n) => [KEYS[n].env, SAMPLES[n]]));
  const fromEnv = loadConfig({ env, cwd: tempDir(), hostname: 'app-6' });
  for (const spec of KEY_LIST) assert.equal(originsOf(fromEnv)[spec.toml], 'env', spec.env);
  const shown = new Set(describeConfig(fromEnv).entries.map((e) => e.key));
  for (const spec of KEY_LIST)
    assert.ok(shown.has(spec.envOnly ? spec.env : `${spec.section}.${spec.toml}`), `lifeboat config shows ${spec.env}`);

  const inFile = KEY_LIST.filter((s) => !s.envOnly);
  const toml = SECTIONS.map(
    (section) =>
      `[${section}]\n${names
        .filter((n) => spec(n).section === section && !spec(n).envOnly)
        .map((n) => `${KEYS[n].toml} = ${JSON.stringify(typed(KEYS[n], SAMPLES[n]))}`)
        .join('\n')}\n`,
  ).join('');
  const cwd = tempDir();
  writeFileSync(join(cwd, 'config.toml'), toml);
  const fromFile = loadConfig({ env: {}, cwd, hostname: 'app-6' });
  for (const spec of inFile) assert.equal(originsOf(fromFile)[spec.toml], 'file', spec.toml);

  const overrides: Record<string, unknown> = {};
  for (const n of names) {
    const override = spec(n).override;
    if (override) overrides[override] = typed(KEYS[n], SAMPLES[n]);
  }
  const fromCode = loadConfig({ env: {}, cwd: tempDir(), hostname: 'app-6', overrides: overrides as ConfigOverrides });
  for (const spec of KEY_LIST.filter((s) => s.override))
    assert.equal(originsOf(fromCode)[spec.toml], 'code', String(spec.override));
  for (const c of [fromEnv, fromFile, fromCode]) {
    assert.equal(c.backupKeepDays, 11);
    assert.equal(c.s3?.prefix, 'prod/');
    assert.equal(c.s3Timeout, 45);
    assert.deepEqual({ ...c.heartbeat }, { url: 'https://hc-ping.com/0b8f4c1e-token', method: 'POST' });
    assert.deepEqual(c.restore.expectTables, ['users', 'sessions']);
    assert.equal(c.encryption?.active.id, 'k1');
  }
});
