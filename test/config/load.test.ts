import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { type LoadOptions, loadConfig, originsOf, warningsOf } from '../../src/config/load.js';
import { describeConfig, formatConfig } from '../../src/config/redact.js';
import { generateKey } from '../../src/crypto/keys.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../support/tmp.js';

const SECRET = 'sUpErSeCrEt-do-not-print-42';
const ACCESS_KEY = 'AKIA-ACCESS-KEY-ID-77';
const KEY = generateKey('k1');
const KEY2 = generateKey('k2');
const material = (line: string) => line.slice(line.indexOf('/') + 1);
const S3_ENV = {
  HQL_S3_URL: 'http://127.0.0.1:9000',
  HQL_S3_BUCKET: 'b',
  HQL_S3_REGION: 'r',
  HQL_S3_KEY: ACCESS_KEY,
  HQL_S3_SECRET: SECRET,
  ENC_KEYS: KEY,
  ENC_KEY_ACTIVE: 'k1',
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.exitCode, 2);
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

function load(env: Record<string, string>, toml?: string, extra: Partial<LoadOptions> = {}) {
  const cwd = tempDir();
  if (toml !== undefined) writeFileSync(join(cwd, 'config.toml'), toml);
  return { cwd, run: () => loadConfig({ env, cwd, ...extra }) };
}

function assertNoSecrets(text: string, what: string): void {
  for (const s of [SECRET, ACCESS_KEY, material(KEY), material(KEY2)])
    assert.ok(!text.includes(s), `${what} contains a secret: ${text}`);
}

test('defaults with no file and no environment: Hiqlite names and values, absolute paths, frozen', () => {
  const cwd = tempDir();
  const c = loadConfig({ env: {}, cwd });
  assert.equal(c.nodeId, 1);
  assert.equal(c.nodeIdFrom, undefined);
  assert.equal(c.dataDir, 'data');
  assert.equal(c.filenameDb, 'hiqlite.db');
  assert.equal(c.backupCron, '0 30 2 * * * *');
  assert.equal(c.backupCronTz, undefined);
  assert.equal(c.backupKeepDays, 30);
  assert.equal(c.backupKeepDaysLocal, 3);
  assert.equal(c.s3, undefined);
  assert.equal(c.encryption, undefined);
  assert.deepEqual(c.restore, {
    source: undefined,
    skipValidation: false,
    force: false,
    expectTables: [],
    ifMissing: undefined,
  });
  assert.equal(c.configFile, undefined);
  assert.deepEqual(c.paths, {
    dataDir: join(cwd, 'data'),
    dbDir: join(cwd, 'data', 'state_machine', 'db'),
    dbFile: join(cwd, 'data', 'state_machine', 'db', 'hiqlite.db'),
    backupsDir: join(cwd, 'data', 'state_machine', 'backups'),
  });
  for (const o of [c, c.paths, c.restore, c.restore.expectTables]) assert.ok(Object.isFrozen(o));
  assert.deepEqual(originsOf(c), {});
  assert.deepEqual(warningsOf(c), []);
  assert.ok(describeConfig(c).entries.every((e) => e.origin === 'default'));
});

const FULL_TOML = `
[cluster]
node_id = 3
nodes = ["1 localhost:8100 localhost:8200"]   # Hiqlite keys Lifeboat does not use are fine
secret_raft = "SuperSecureSecret1337"
data_dir = "/srv/app"
filename_db = "app.db"
backup_cron = "0 0 4 * * * *"
backup_cron_tz = "Europe/Berlin"
backup_keep_days = 10
backup_keep_days_local = 0
s3_url = "https://s3.example.com"
s3_bucket = "bkt"
s3_region = "eu-1"
s3_path_style = false
s3_key = "${ACCESS_KEY}"
s3_secret = "${SECRET}"
s3_prefix = "prod/"
backup_restore_expect_tables = ["users", "sessions"]

[encryption]
keys = ["${KEY}", "${KEY2}"]
key_active = "k2"
`;

test('TOML values are read, with their origin', () => {
  const { run } = load({}, FULL_TOML);
  const c = run();
  assert.equal(c.nodeId, 3);
  assert.equal(c.paths.dbFile, '/srv/app/state_machine/db/app.db');
  assert.equal(c.backupCron, '0 0 4 * * * *');
  assert.equal(c.backupCronTz, 'Europe/Berlin');
  assert.equal(c.backupKeepDays, 10);
  assert.equal(c.backupKeepDaysLocal, 0);
  assert.deepEqual(
    { ...c.s3 },
    {
      url: 'https://s3.example.com',
      bucket: 'bkt',
      region: 'eu-1',
      pathStyle: false,
      key: ACCESS_KEY,
      secret: SECRET,
      prefix: 'prod/',
    },
  );
  assert.deepEqual(c.restore.expectTables, ['users', 'sessions']);
  assert.deepEqual(c.encryption?.ids, ['k1', 'k2']);
  assert.equal(c.encryption?.active.id, 'k2');
  assert.equal(c.encryption?.get('k1')?.key.toString('base64'), material(KEY));
  assert.ok(Object.values(originsOf(c)).every((o) => o === 'file'));
  assert.deepEqual(warningsOf(c), []);
});

test('precedence: env > code > TOML file > default, per key and per field', () => {
  const { run, cwd } = load(
    { HQL_BACKUP_KEEP_DAYS: '12', HQL_S3_BUCKET: 'env-bucket', ENC_KEY_ACTIVE: 'k1', HQL_DATA_DIR: 'rel/dir' },
    FULL_TOML,
    {
      overrides: {
        backupKeepDays: 99,
        backupKeepDaysLocal: 7,
        s3Region: 'code-region',
        nodeId: 8,
        encKeys: [KEY2, KEY],
      },
    },
  );
  const c = run();
  assert.equal(c.backupKeepDays, 12, 'env wins over code and file');
  assert.equal(c.backupKeepDaysLocal, 7, 'code wins over file');
  assert.equal(c.nodeId, 8);
  assert.equal(c.s3?.bucket, 'env-bucket');
  assert.equal(c.s3?.region, 'code-region');
  assert.equal(c.s3?.prefix, 'prod/', 'file wins over default');
  assert.deepEqual(c.encryption?.ids, ['k2', 'k1'], 'keys from code');
  assert.equal(c.encryption?.active.id, 'k1', 'active id from env, keys from code: env wins per field');
  assert.equal(c.paths.dataDir, join(cwd, 'rel/dir'), 'relative data_dir resolved against cwd');
  const o = originsOf(c);
  assert.deepEqual(
    [o.backup_keep_days, o.backup_keep_days_local, o.s3_region, o.s3_prefix, o.keys, o.key_active, o.data_dir],
    ['env', 'code', 'code', 'file', 'code', 'env', 'env'],
  );
  const shown = describeConfig(c).entries;
  assert.equal(shown.find((e) => e.key === 'cluster.backup_keep_days')?.origin, 'env');
  assert.equal(shown.find((e) => e.key === 'cluster.s3_prefix')?.origin, 'file');
  assert.equal(shown.find((e) => e.key === 'cluster.filename_db')?.origin, 'file');
});

const configFileSources =
  'the config file: --config / LIFEBOAT_CONFIG / ./config.toml; a missing default is fine, a missing named file is not';
test(configFileSources, () => {
  const cwd = tempDir();
  mkdirSync(join(cwd, 'etc'));
  writeFileSync(join(cwd, 'etc', 'a.toml'), '[cluster]\nnode_id = 5\n');
  writeFileSync(join(cwd, 'config.toml'), '[cluster]\nnode_id = 6\n');
  assert.equal(loadConfig({ env: {}, cwd }).nodeId, 6);
  assert.equal(loadConfig({ env: { LIFEBOAT_CONFIG: 'etc/a.toml' }, cwd }).nodeId, 5);
  assert.equal(
    loadConfig({ env: { LIFEBOAT_CONFIG: 'etc/a.toml' }, cwd, configFile: 'config.toml' }).configFile,
    join(cwd, 'config.toml'),
  );
  assert.equal(loadConfig({ env: { LIFEBOAT_CONFIG: '' }, cwd }).nodeId, 6, 'empty LIFEBOAT_CONFIG = unset');
  assert.match(
    problemsOf(() => loadConfig({ env: {}, cwd, configFile: 'missing.toml' }))[0]!,
    /config file .*missing\.toml: does not exist/,
  );
  assert.match(
    problemsOf(() => loadConfig({ env: { LIFEBOAT_CONFIG: 'nope.toml' }, cwd }))[0]!,
    /nope\.toml: does not exist/,
  );
  assert.match(problemsOf(() => loadConfig({ env: {}, cwd, configFile: 'etc' }))[0]!, /etc: is a folder/);
});

test('invalid TOML: file, line and column, and never the offending line (it may hold a secret)', () => {
  const { run } = load({}, `[cluster]\nnode_id = 2\ns3_secret = "${SECRET}\nbackup_cron = "x"\n`);
  const [syntax, ...rest] = problemsOf(run);
  assert.deepEqual(rest, []);
  assert.match(syntax!, /config\.toml: invalid TOML at line 3, column \d+: /);
  assertNoSecrets(syntax!, 'TOML syntax error');
  const dup = load({}, '[cluster]\nnode_id = 1\nnode_id = 2\n');
  assert.match(problemsOf(dup.run)[0]!, /invalid TOML at line 3, column 1/);
  assert.match(problemsOf(load({}, 'cluster = 5\n').run)[0]!, /cluster must be a table/);
});

test('every invalid value from the environment is named (key, env var, value, fix), all in one pass', () => {
  const problems = problemsOf(
    load({
      HQL_NODE_ID: '0',
      HQL_DATA_DIR: '   ',
      HQL_FILENAME_DB: 'x/y.db',
      HQL_BACKUP_CRON: '0 30 2 * *',
      HQL_BACKUP_KEEP_DAYS: 'thirty',
      HQL_BACKUP_KEEP_DAYS_LOCAL: '70000',
      HQL_S3_URL: 'ftp://user:pw@host',
      HQL_S3_BUCKET: 'my/bucket',
      HQL_S3_REGION: 'eu 1',
      HQL_S3_PATH_STYLE: 'yes',
      HQL_S3_KEY: `${ACCESS_KEY}\n`,
      HQL_S3_SECRET: `${SECRET} x`,
      HQL_S3_PREFIX: '/prod/',
      HQL_BACKUP_SKIP_VALIDATION: '1',
      HQL_BACKUP_RESTORE_FORCE: 'TRUE',
      ENC_KEYS: `k1/${material(KEY).slice(2)}`,
      ENC_KEY_ACTIVE: 'k1',
    }).run,
  );
  const expected = [
    /^cluster\.node_id \(HQL_NODE_ID\): "0" is not a whole number \(1\.\.9007199254740991\); node ids start at 1$/,
    /^cluster\.data_dir \(HQL_DATA_DIR\): " {3}" must not be empty$/,
    /^cluster\.filename_db \(HQL_FILENAME_DB\): "x\/y\.db" must be a file name without folders/,
    /^cluster\.backup_cron \(HQL_BACKUP_CRON\): .*5 fields/,
    /^cluster\.backup_keep_days \(HQL_BACKUP_KEEP_DAYS\): "thirty" is not a whole number of days \(0\.\.65535\)$/,
    new RegExp(
      /^cluster\.backup_keep_days_local \(HQL_BACKUP_KEEP_DAYS_LOCAL\): "70000" /.source +
        /is not a whole number of days \(0\.\.65535\)$/.source,
    ),
    /^cluster\.s3_url \(HQL_S3_URL\): "ftp:\/\/\*\*\*@host" is not an http\(s\) URL; give the endpoint/,
    /^cluster\.s3_bucket \(HQL_S3_BUCKET\): "my\/bucket" must be a bucket name, not a path/,
    /^cluster\.s3_region \(HQL_S3_REGION\): "eu 1" must not contain whitespace$/,
    /^cluster\.s3_path_style \(HQL_S3_PATH_STYLE\): "yes" must be true or false/,
    /^cluster\.s3_key \(HQL_S3_KEY\): \*\*\* ends in whitespace \(a stray newline/,
    /^cluster\.s3_secret \(HQL_S3_SECRET\): \*\*\* must not contain whitespace$/,
    /^cluster\.s3_prefix \(HQL_S3_PREFIX\): "\/prod\/" must not start with "\/"/,
    /^HQL_BACKUP_SKIP_VALIDATION: "1" must be true or false \(lower case, exactly\)$/,
    /^HQL_BACKUP_RESTORE_FORCE: "TRUE" must be true or false/,
    /^encryption\.keys \(ENC_KEYS\), entry 1 \(id "k1"\): /,
  ];
  for (const re of expected)
    assert.ok(
      problems.some((p) => re.test(p)),
      `${re} in\n${problems.join('\n')}`,
    );
  assert.equal(problems.length, expected.length, problems.join('\n'));
  assertNoSecrets(problems.join('\n'), 'problems');
  assert.ok(!problems.join('\n').includes(':pw@'), 'URL password echoed');
});

test('every wrong type or value in the TOML file is named with the file; all in one pass', () => {
  const { run } = load(
    {},
    `[cluster]
node_id = "two"
data_dir = 5
filename_db = ""
backup_cron = ["0 30 2 * * * *"]
backup_cron_tz = "Nowhere/City"
backup_keep_days = 1.5
backup_keep_days_local = -1
s3_url = "not a url"
s3_bucket = true
s3_region = "r"
s3_path_style = "true"
s3_key = 42
s3_secret = ["${SECRET}"]
backup_restore_expect_tables = "users"

[encryption]
keys = "${KEY}"
key_active = "k1"
`,
  );
  const problems = problemsOf(run);
  const f = String.raw`in \S+config\.toml: `;
  const expected = [
    new RegExp(String.raw`^cluster\.node_id \(HQL_NODE_ID\) ${f}"two" is not a whole number`),
    new RegExp(String.raw`^cluster\.data_dir \(HQL_DATA_DIR\) ${f}5 must be a string \(in quotes\)`),
    new RegExp(String.raw`^cluster\.filename_db \(HQL_FILENAME_DB\) ${f}"" must not be empty`),
    new RegExp(String.raw`^cluster\.backup_cron \(HQL_BACKUP_CRON\) ${f}\["0 30 2 \* \* \* \*"\] must be a string`),
    new RegExp(
      String.raw`^cluster\.backup_cron_tz \(HQL_BACKUP_CRON_TZ\) ${f}"Nowhere/City" is not a known IANA time zone`,
    ),
    new RegExp(
      String.raw`^cluster\.backup_keep_days \(HQL_BACKUP_KEEP_DAYS\) ${f}1\.5 is not ` +
        String.raw`a whole number of days \(0\.\.65535\); TOML floats are not allowed`,
    ),
    new RegExp(
      String.raw`^cluster\.backup_keep_days_local \(HQL_BACKUP_KEEP_DAYS_LOCAL\) ${f}-1 is not a whole number of days`,
    ),
    new RegExp(String.raw`^cluster\.s3_url \(HQL_S3_URL\) ${f}"not a url" must not contain whitespace`),
    new RegExp(String.raw`^cluster\.s3_bucket \(HQL_S3_BUCKET\) ${f}true must be a string`),
    new RegExp(
      String.raw`^cluster\.s3_path_style \(HQL_S3_PATH_STYLE\) ${f}"true" ` +
        String.raw`must be true or false \(a TOML boolean, without quotes\)`,
    ),
    new RegExp(String.raw`^cluster\.s3_key \(HQL_S3_KEY\) ${f}\*\*\* must be a string`),
    new RegExp(String.raw`^cluster\.s3_secret \(HQL_S3_SECRET\) ${f}\*\*\* must be a string`),
    new RegExp(
      String.raw`^cluster\.backup_restore_expect_tables ` +
        String.raw`\(HQL_BACKUP_RESTORE_EXPECT_TABLES\) ${f}"users" must be an array of strings`,
    ),
    new RegExp(String.raw`^encryption\.keys \(ENC_KEYS\) ${f}\*\*\* must be an array of strings`),
  ];
  for (const re of expected)
    assert.ok(
      problems.some((p) => re.test(p)),
      `${re} in\n${problems.join('\n')}`,
    );
  assert.equal(problems.length, expected.length, problems.join('\n'));
  assertNoSecrets(problems.join('\n'), 'problems');
});

test('numbers: whole numbers only, ranges, big values; the same rules for values set in code', () => {
  const n = (v: string) => load({ HQL_NODE_ID: v }).run;
  assert.equal(n(' 7 ')().nodeId, 7);
  assert.equal(n('+7')().nodeId, 7);
  assert.equal(n(String(Number.MAX_SAFE_INTEGER))().nodeId, Number.MAX_SAFE_INTEGER);
  for (const bad of ['-1', '1.0', '1e3', '0x10', '9007199254740992', 'abc'])
    assert.match(problemsOf(n(bad))[0]!, /node_id \(HQL_NODE_ID\): .* is not a whole number/, bad);
  assert.equal(load({}, '[cluster]\nbackup_keep_days = 65535\n').run().backupKeepDays, 65535);
  assert.match(
    problemsOf(load({}, '[cluster]\nnode_id = 99999999999999999999\n').run)[0]!,
    /node_id .*99999999999999999999 is not a whole number/,
  );
  assert.match(problemsOf(load({}, '[cluster]\nnode_id = 0\n').run)[0]!, /node ids start at 1/);
  const code = problemsOf(
    load({}, undefined, { overrides: { backupKeepDays: 2.5, nodeId: 0, s3PathStyle: 'yes' as unknown as boolean } })
      .run,
  );
  assert.ok(
    code.some((p) =>
      /^cluster\.backup_keep_days \(HQL_BACKUP_KEEP_DAYS\) \(set in code\): 2\.5 is not a whole number of days/.test(p),
    ),
    code.join('\n'),
  );
  assert.ok(code.some((p) => /node_id .*\(set in code\): 0 .*node ids start at 1/.test(p)));
  assert.ok(code.some((p) => /s3_path_style .*\(set in code\): "yes" must be true or false/.test(p)));
});

test('booleans: env accepts exactly true/false (as Rust parse::<bool>), TOML needs real booleans', () => {
  assert.equal(load({ ...S3_ENV, HQL_S3_PATH_STYLE: 'false' }).run().s3?.pathStyle, false);
  assert.equal(load({ HQL_BACKUP_SKIP_VALIDATION: 'true' }).run().restore.skipValidation, true);
  for (const bad of ['True', 'FALSE', '1', '0', 'yes', 'no', 'on', ' true']) {
    assert.match(
      problemsOf(load({ HQL_BACKUP_SKIP_VALIDATION: bad }).run)[0]!,
      /^HQL_BACKUP_SKIP_VALIDATION: .* must be true or false/,
      bad,
    );
  }
});

test('S3: on iff s3_url is set; every missing setting is its own problem; S3 without keys is an error', () => {
  const partial = problemsOf(load({ HQL_S3_URL: 'http://127.0.0.1:9000', HQL_S3_SECRET: SECRET }).run);
  for (const [key, env] of [
    ['s3_bucket', 'HQL_S3_BUCKET'],
    ['s3_region', 'HQL_S3_REGION'],
    ['s3_key', 'HQL_S3_KEY'],
  ]) {
    assert.ok(
      partial.some(
        (p) => p === `cluster.${key} (${env}): required when s3_url is set; set ${env} (or cluster.${key} in the file)`,
      ),
      `${key}\n${partial.join('\n')}`,
    );
  }
  assert.ok(
    partial.some((p) =>
      new RegExp(
        /^encryption\.keys \(ENC_KEYS\): S3 backups are always encrypted, /.source +
          /but no keys are configured; set ENC_KEYS and ENC_KEY_ACTIVE/.source,
      ).test(p),
    ),
  );
  assert.equal(partial.length, 4, partial.join('\n'));
  assertNoSecrets(partial.join('\n'), 'problems');

  const noKeys = problemsOf(load({ ...S3_ENV, ENC_KEYS: '', ENC_KEY_ACTIVE: '' }).run);
  assert.equal(noKeys.length, 1);
  assert.match(noKeys[0]!, /set ENC_KEYS and ENC_KEY_ACTIVE/);
  assert.match(problemsOf(load({ ...S3_ENV, ENC_KEY_ACTIVE: '' }).run)[0]!, /ENC_KEY_ACTIVE\): not set/);
  assert.match(
    problemsOf(load({ ...S3_ENV, HQL_S3_URL: 'https://u:p@s3.example.com' }).run)[0]!,
    /must not contain credentials/,
  );
  assert.match(problemsOf(load({ ...S3_ENV, HQL_S3_URL: 'https://' }).run)[0]!, /is not an http\(s\) URL/);
  const spaced = problemsOf(load({ ...S3_ENV, HQL_S3_URL: `https://user:${SECRET}@s3.example.com \n` }).run);
  assert.match(spaced[0]!, /^cluster\.s3_url \(HQL_S3_URL\): "https:\/\/\*\*\*@s3\.example\.com .*whitespace/);
  assertNoSecrets(spaced.join('\n'), 'URL problem');

  const ok = load({ ...S3_ENV, ENC_KEYS: `${KEY}\n${KEY2}`, ENC_KEY_ACTIVE: 'k2' }).run();
  assert.equal(ok.s3?.pathStyle, true, 'path style defaults to true');
  assert.equal(ok.s3?.prefix, '');
  assert.equal(ok.encryption?.active.id, 'k2');
  assert.ok(Object.isFrozen(ok.s3));

  // S3 settings without s3_url: S3 stays off, with a warning (not an error).
  const off = load({ HQL_S3_BUCKET: 'b', HQL_S3_SECRET: SECRET }).run();
  assert.equal(off.s3, undefined);
  assert.match(
    warningsOf(off).join('\n'),
    /cluster\.s3_bucket, cluster\.s3_secret are set but cluster\.s3_url \(HQL_S3_URL\) is not, so S3 backups are off/,
  );
});

test('secrets never appear in describeConfig, its text form, JSON or inspect of the config', () => {
  const c = load({ ...S3_ENV, ENC_KEYS: `${KEY}\n${KEY2}` }).run();
  const view = describeConfig(c);
  for (const out of [
    JSON.stringify(view),
    formatConfig(view),
    JSON.stringify(c),
    inspect(c, { depth: 10 }),
    String(c.s3 && JSON.stringify({ s3: c.s3 })),
  ])
    assertNoSecrets(out, 'output');
  const byKey = Object.fromEntries(view.entries.map((e) => [e.key, e.value]));
  assert.equal(byKey['cluster.s3_secret'], '***');
  assert.equal(byKey['cluster.s3_key'], '***');
  assert.deepEqual(byKey['encryption.keys'], ['k1/***', 'k2/***']);
  assert.equal(byKey['encryption.key_active'], 'k1');
  assert.deepEqual(view.keys, { ids: ['k1', 'k2'], active: 'k1' });
  // The secrets themselves are still there for the code that needs them.
  assert.equal(c.s3?.secret, SECRET);
});

test('restore settings come from the environment only; expect_tables from env (comma list) or file (array)', () => {
  const { run } = load(
    {},
    '[cluster]\nbackup_restore = "file:/x.sqlite"\n' +
      'backup_skip_validation = true\nbackup_restore_expect_tables = ["a"]\n',
  );
  const c = run();
  assert.equal(c.restore.source, undefined);
  assert.equal(c.restore.skipValidation, false);
  assert.deepEqual(c.restore.expectTables, ['a']);
  assert.match(
    warningsOf(c).join('\n'),
    /cluster\.backup_restore in \S+ is ignored: HQL_BACKUP_RESTORE is read from the environment only/,
  );
  assert.match(warningsOf(c).join('\n'), /cluster\.backup_skip_validation .* ignored: HQL_BACKUP_SKIP_VALIDATION/);
  const e = load({
    HQL_BACKUP_RESTORE: 's3:latest',
    HQL_BACKUP_SKIP_VALIDATION: 'true',
    HQL_BACKUP_RESTORE_FORCE: 'true',
    HQL_BACKUP_RESTORE_EXPECT_TABLES: ' users, sessions ,,',
  }).run();
  assert.deepEqual(
    [e.restore.source, e.restore.skipValidation, e.restore.force, e.restore.expectTables],
    [{ kind: 's3-latest' }, true, true, ['users', 'sessions']],
  );
  assert.match(
    problemsOf(load({}, '[cluster]\nbackup_restore_expect_tables = ["a", " "]\n').run)[0]!,
    /must not contain empty names/,
  );
});

test('backup_restore_if_missing may stay in the file (it only acts on a missing database); env overrides it', () => {
  const fromFile = load({}, '[cluster]\nbackup_restore_if_missing = "s3:latest"\n').run();
  assert.deepEqual(fromFile.restore.ifMissing, { kind: 's3-latest' });
  assert.equal(warningsOf(fromFile).join('\n'), '');
  const fromEnv = load(
    { HQL_BACKUP_RESTORE_IF_MISSING: 'local:latest' },
    '[cluster]\nbackup_restore_if_missing = "s3:latest"\n',
  );
  assert.deepEqual(fromEnv.run().restore.ifMissing, { kind: 'local-latest' });
  assert.match(
    problemsOf(load({ HQL_BACKUP_RESTORE_IF_MISSING: 'latest' }).run)[0]!,
    /HQL_BACKUP_RESTORE_IF_MISSING.*unknown prefix/,
  );
});

test('HQL_BACKUP_RESTORE is parsed when the configuration loads; a bad value is one of the problems', () => {
  assert.deepEqual(load({ HQL_BACKUP_RESTORE: ' file:/srv/b.sqlite ' }).run().restore.source, {
    kind: 'file',
    path: '/srv/b.sqlite',
  });
  const c = load({ HQL_BACKUP_RESTORE: 's3:backup_node_1_1.sqlite' }).run();
  assert.deepEqual(c.restore.source, { kind: 's3', object: 'backup_node_1_1.sqlite' });
  const entry = describeConfig(c).entries.find((e) => e.key === 'HQL_BACKUP_RESTORE');
  assert.deepEqual(entry, {
    key: 'HQL_BACKUP_RESTORE',
    env: '',
    value: 's3:backup_node_1_1.sqlite',
    origin: 'env',
    note: 'a restore runs at start-up',
  });
  const problems = problemsOf(load({ HQL_BACKUP_RESTORE: 's3:a/b', HQL_BACKUP_KEEP_DAYS: 'x' }).run);
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.match(problems[0]!, /^cluster\.backup_keep_days \(HQL_BACKUP_KEEP_DAYS\): "x"/);
  assert.match(problems[1]!, /^HQL_BACKUP_RESTORE: "s3:a\/b" is a path, not an object name; .*s3:latest/);
  for (const [value, re] of [
    ['disk:/x', /^HQL_BACKUP_RESTORE: "disk:\/x" has an unknown prefix; use s3:<object name>/],
    ['  ', /^HQL_BACKUP_RESTORE: " {2}" is empty; use s3:<object name>/],
    ['file:rel.sqlite', /^HQL_BACKUP_RESTORE: "file:rel\.sqlite" is a relative path/],
  ] as const) {
    const [only, ...more] = problemsOf(load({ HQL_BACKUP_RESTORE: value }).run);
    assert.deepEqual(more, [], value);
    assert.match(only!, re);
  }
});

test('empty environment variables count as unset; time zone and cron validated', () => {
  const c = load(
    { HQL_S3_URL: '', HQL_NODE_ID: '', HQL_BACKUP_RESTORE: '', ENC_KEYS: '', HQL_BACKUP_CRON_TZ: 'UTC' },
    '[cluster]\nnode_id = 4\n',
  ).run();
  assert.equal(c.s3, undefined);
  assert.equal(c.nodeId, 4, 'an empty HQL_NODE_ID does not hide the file value');
  assert.equal(c.restore.source, undefined);
  assert.equal(c.encryption, undefined);
  assert.equal(c.backupCronTz, 'UTC');
  assert.match(
    problemsOf(load({ HQL_BACKUP_CRON_TZ: 'Nowhere/City' }).run)[0]!,
    /^cluster\.backup_cron_tz \(HQL_BACKUP_CRON_TZ\): "Nowhere\/City" is not a known IANA time zone/,
  );
  assert.match(problemsOf(load({ HQL_BACKUP_CRON: '0 0 0 30 2 *' }).run)[0]!, /never fires again/);
});

const unknownKeysIgnored =
  'unknown keys are ignored (Hiqlite has many) but a likely typo is a warning; [hiqlite] without [cluster] is an error';
test(unknownKeysIgnored, () => {
  const c = load(
    {},
    '[cluster]\nlisten_addr_api = "0.0.0.0"\nlog_sync = "immediate"\n' +
      'backup_keep_day = 5\nwhatever = 1\n[encryption]\nkey = []\n[server]\nx = 1\n',
  ).run();
  const w = warningsOf(c).join('\n');
  assert.match(
    w,
    new RegExp(
      /cluster\.backup_keep_day in \S+ is not a key Lifeboat or Hiqlite knows; /.source +
        /it is ignored \(did you mean backup_keep_days\?\)/.source,
    ),
  );
  assert.match(w, /cluster\.whatever .* ignored$/m);
  assert.match(w, /encryption\.key .*did you mean keys\?/);
  assert.doesNotMatch(w, /listen_addr_api|log_sync|server/);
  assert.equal(c.backupKeepDays, 30);
  const standalone = load({}, '[cluster]\nenc_keys = ["x"]\n').run();
  assert.match(warningsOf(standalone).join('\n'), /cluster\.enc_keys .* ignored: .*\[encryption\] keys or ENC_KEYS/);
  assert.match(
    problemsOf(load({}, '[hiqlite]\nnode_id = 2\n').run)[0]!,
    /has a \[hiqlite\] table but no \[cluster\] table/,
  );
});

test('node_id_from = "k8s": node id from the StatefulSet host name + 1, as Hiqlite', () => {
  const c = load({ HQL_NODE_ID_FROM: 'k8s', HQL_NODE_ID: '9' }, undefined, { hostname: 'rauthy-2' }).run();
  assert.equal(c.nodeId, 3);
  assert.equal(c.nodeIdFrom, 'k8s');
  assert.equal(originsOf(c).node_id, 'env');
  assert.match(warningsOf(c).join('\n'), /node_id \(HQL_NODE_ID\) is ignored because node_id_from = "k8s"/);
  assert.equal(load({}, '[cluster]\nnode_id_from = "k8s"\n', { hostname: 'app-db-0' }).run().nodeId, 1);
  assert.match(
    problemsOf(load({ HQL_NODE_ID_FROM: 'k8s' }, undefined, { hostname: 'laptop' }).run)[0]!,
    /needs a host name ending in -<ordinal>.*"laptop"/,
  );
  assert.match(
    problemsOf(load({ HQL_NODE_ID_FROM: 'hostname' }).run)[0]!,
    /^cluster\.node_id_from \(HQL_NODE_ID_FROM\): "hostname" is not supported; the only value is "k8s"/,
  );
});

test('Hiqlite\'s "$SECRETS" reference is rejected (not taken as the literal secret)', () => {
  const problems = problemsOf(load({ ...S3_ENV, HQL_S3_SECRET: '$SECRETS', ENC_KEYS: '$SECRETS' }).run);
  assert.ok(
    problems.some((p) => /^cluster\.s3_secret \(HQL_S3_SECRET\): "\$SECRETS" .* not supported by Lifeboat/.test(p)),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => /^encryption\.keys \(ENC_KEYS\): "\$SECRETS" .* not supported/.test(p)),
    problems.join('\n'),
  );
  assert.equal(problems.length, 2, problems.join('\n'));
});

test('[pitr]: off by default; durations with units from the file or the environment; it needs S3', () => {
  const off = load({}).run();
  assert.deepEqual(off.pitr, {
    enabled: false,
    syncIntervalMs: 1000,
    windowMs: 7 * 86_400_000,
    rebaseEveryMs: 86_400_000,
    rebaseRatio: 1.5,
    checkpointPages: 1000,
    walHardPages: 16_384,
    walMaxPages: 65_536,
  });
  const fromFile = load(
    S3_ENV,
    '[pitr]\nenabled = true\nsync_interval = "250ms"\nwindow = "30d"\nrebase_every = "6h"\ncheckpoint_pages = 500\n' +
      'wal_hard_pages = 4000\nwal_max_pages = 9000\nrebase_ratio = 0.5\n',
  ).run();
  assert.deepEqual(fromFile.pitr, {
    enabled: true,
    syncIntervalMs: 250,
    windowMs: 30 * 86_400_000,
    rebaseEveryMs: 6 * 3_600_000,
    rebaseRatio: 0.5,
    checkpointPages: 500,
    walHardPages: 4000,
    walMaxPages: 9000,
  });
  assert.match(
    problemsOf(load({ ...S3_ENV, LIFEBOAT_PITR_WAL_HARD_PAGES: '800' }).run).join('\n'),
    /^pitr\.wal_hard_pages \(LIFEBOAT_PITR_WAL_HARD_PAGES\): 800 is below checkpoint_pages \(1000\)/m,
  );
  const fromEnv = load(
    { ...S3_ENV, LIFEBOAT_PITR: 'true', LIFEBOAT_PITR_SYNC_INTERVAL: '1.5s' },
    '[pitr]\nsync_interval = 9\n',
  );
  assert.equal(fromEnv.run().pitr.syncIntervalMs, 1500, 'the environment wins; units are read');
  assert.equal(load(S3_ENV, '[pitr]\nsync_interval = 9\n').run().pitr.syncIntervalMs, 9000, 'a bare number is seconds');
  const bad = problemsOf(load({ ...S3_ENV, LIFEBOAT_PITR_SYNC_INTERVAL: '5 parsecs' }).run);
  assert.match(bad.join('\n'), /^pitr\.sync_interval \(LIFEBOAT_PITR_SYNC_INTERVAL\): "5 parsecs" is not a duration/m);
  assert.match(
    problemsOf(load({ ...S3_ENV, LIFEBOAT_PITR_SYNC_INTERVAL: '10ms' }).run).join('\n'),
    /from 100ms to 366d/,
  );
  assert.equal(load(S3_ENV, '[pitr]\nrebase_ratio = 4\n').run().pitr.rebaseRatio, 4, 'a TOML integer is a ratio');
  assert.equal(load({ ...S3_ENV, LIFEBOAT_PITR_REBASE_RATIO: ' 2.5 ' }).run().pitr.rebaseRatio, 2.5);
  for (const [env, toml] of [
    ['0', '0.01'],
    ['abc', '"2"'],
    ['1e3x', '1001'],
    ['-1', 'inf'],
  ]) {
    assert.match(
      problemsOf(load({ ...S3_ENV, LIFEBOAT_PITR_REBASE_RATIO: env! }).run).join('\n'),
      /^pitr\.rebase_ratio \(LIFEBOAT_PITR_REBASE_RATIO\): .* is not a number from 0\.1 to 1000, e\.g\. 3 or 1\.5/m,
      env,
    );
    assert.match(
      problemsOf(load(S3_ENV, `[pitr]\nrebase_ratio = ${toml}\n`).run).join('\n'),
      /^pitr\.rebase_ratio \(LIFEBOAT_PITR_REBASE_RATIO\) in .*: .* is not a number from 0\.1 to 1000/m,
      toml,
    );
  }
  const noS3 = problemsOf(load({ LIFEBOAT_PITR: 'true' }).run);
  assert.match(noS3.join('\n'), /^pitr\.enabled \(LIFEBOAT_PITR\): continuous backup ships to S3: set s3_url/m);
});
