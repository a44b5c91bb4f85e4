import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig, originsOf } from '../../src/config/load.js';
import { describeConfig } from '../../src/config/redact.js';
import { generateKey } from '../../src/crypto/keys.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../support/tmp.js';

const SECRET = 'sUpErSeCrEt-do-not-print-42';
const KEY = generateKey('k1');

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

test('defaults: Hiqlite names and values, paths under data/state_machine', () => {
  const cwd = tempDir();
  const c = loadConfig({ env: {}, cwd });
  assert.equal(c.nodeId, 1);
  assert.equal(c.dataDir, 'data');
  assert.equal(c.filenameDb, 'hiqlite.db');
  assert.equal(c.backupCron, '0 30 2 * * * *');
  assert.equal(c.backupKeepDays, 30);
  assert.equal(c.backupKeepDaysLocal, 3);
  assert.equal(c.s3, undefined);
  assert.equal(c.encryption, undefined);
  assert.equal(c.restore.source, undefined);
  assert.equal(c.restore.skipValidation, false);
  assert.equal(c.paths.dbFile, join(cwd, 'data', 'state_machine', 'db', 'hiqlite.db'));
  assert.equal(c.paths.backupsDir, join(cwd, 'data', 'state_machine', 'backups'));
  assert.ok(Object.isFrozen(c));
});

test('precedence: env > code > TOML file > default', () => {
  const cwd = tempDir();
  writeFileSync(
    join(cwd, 'config.toml'),
    `[cluster]\nnode_id = 3\ndata_dir = "/srv/x"\nbackup_keep_days = 10\nbackup_keep_days_local = 5\nraft_listen = "ignored: Hiqlite has many keys"\n[encryption]\nkeys = ["${KEY}"]\nkey_active = "k1"\n`,
  );
  const c = loadConfig({ env: { HQL_BACKUP_KEEP_DAYS: '12' }, cwd, overrides: { backupKeepDays: 99, backupKeepDaysLocal: 7 } });
  assert.equal(c.nodeId, 3);
  assert.equal(c.paths.dataDir, '/srv/x');
  assert.equal(c.backupKeepDays, 12, 'env wins over code and file');
  assert.equal(c.backupKeepDaysLocal, 7, 'code wins over file');
  assert.equal(c.encryption?.active.id, 'k1');
  assert.equal(c.configFile, join(cwd, 'config.toml'));
  const o = originsOf(c);
  assert.equal(o.backup_keep_days, 'env');
  assert.equal(o.backup_keep_days_local, 'code');
  assert.equal(o.node_id, 'file');
});

test('every bad value is named with its key, env var and the fix; all at once', () => {
  const problems = problemsOf(() =>
    loadConfig({
      cwd: tempDir(),
      env: {
        HQL_NODE_ID: '0',
        HQL_BACKUP_KEEP_DAYS: 'thirty',
        HQL_BACKUP_KEEP_DAYS_LOCAL: '70000',
        HQL_BACKUP_CRON: '0 30 2 * *',
        HQL_FILENAME_DB: 'x/y.db',
        HQL_S3_PATH_STYLE: 'yes',
        HQL_BACKUP_SKIP_VALIDATION: '1',
      },
    }),
  );
  const expect = [
    /cluster\.node_id \(HQL_NODE_ID\).*node ids start at 1/,
    /cluster\.backup_keep_days \(HQL_BACKUP_KEEP_DAYS\): "thirty" is not a whole number of days \(0\.\.65535\)/,
    /cluster\.backup_keep_days_local \(HQL_BACKUP_KEEP_DAYS_LOCAL\): "70000"/,
    /cluster\.backup_cron \(HQL_BACKUP_CRON\).*5 fields/,
    /cluster\.filename_db \(HQL_FILENAME_DB\).*without folders/,
    /cluster\.s3_path_style \(HQL_S3_PATH_STYLE\): "yes" must be true or false/,
    /HQL_BACKUP_SKIP_VALIDATION: "1" must be true or false/,
  ];
  for (const re of expect) assert.ok(problems.some((p) => re.test(p)), `${re} in\n${problems.join('\n')}`);
  assert.equal(problems.length, expect.length);
});

test('TOML syntax errors give file, line and column; wrong types are named', () => {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'config.toml'), '[cluster]\nnode_id = 2\nbackup_cron = "0 30 2 * * * *\n');
  const [syntax] = problemsOf(() => loadConfig({ env: {}, cwd }));
  assert.match(syntax!, /config\.toml: invalid TOML at line 3, column \d+/);
  writeFileSync(join(cwd, 'config.toml'), '[cluster]\nnode_id = "two"\ns3_path_style = "true"\n');
  const problems = problemsOf(() => loadConfig({ env: {}, cwd }));
  assert.ok(problems.some((p) => /node_id \(HQL_NODE_ID\) in .*config\.toml: "two"/.test(p)), problems.join('\n'));
  assert.ok(problems.some((p) => /s3_path_style.*must be true or false/.test(p)));
  assert.match(problemsOf(() => loadConfig({ env: {}, cwd, configFile: 'missing.toml' }))[0]!, /missing\.toml: does not exist/);
});

test('S3: every missing setting is its own problem; S3 without keys is an error; secrets never shown', () => {
  const partial = problemsOf(() => loadConfig({ cwd: tempDir(), env: { HQL_S3_URL: 'http://127.0.0.1:9000', HQL_S3_SECRET: SECRET } }));
  for (const key of ['s3_bucket', 's3_region', 's3_key']) assert.ok(partial.some((p) => p.includes(`cluster.${key}`) && p.includes('required when s3_url is set')), key);
  assert.ok(partial.some((p) => /S3 backups are always encrypted.*ENC_KEYS and ENC_KEY_ACTIVE/.test(p)));
  const bad = problemsOf(() => loadConfig({ cwd: tempDir(), env: { HQL_S3_URL: 'ftp://x', HQL_S3_BUCKET: 'b', HQL_S3_REGION: 'r', HQL_S3_KEY: 'k', HQL_S3_SECRET: SECRET, ENC_KEYS: KEY, ENC_KEY_ACTIVE: 'k1' } }));
  assert.match(bad.join('\n'), /s3_url \(HQL_S3_URL\): "ftp:\/\/x" is not an http\(s\) URL/);
  for (const p of [...partial, ...bad]) assert.ok(!p.includes(SECRET), 'secret leaked into a problem');

  const ok = loadConfig({ cwd: tempDir(), env: { HQL_S3_URL: 'http://127.0.0.1:9000', HQL_S3_BUCKET: 'b', HQL_S3_REGION: 'r', HQL_S3_KEY: 'AKIA', HQL_S3_SECRET: SECRET, HQL_S3_PATH_STYLE: 'false', ENC_KEYS: `${KEY}\n${generateKey('k2')}`, ENC_KEY_ACTIVE: 'k2' } });
  assert.equal(ok.s3?.pathStyle, false);
  assert.deepEqual(ok.encryption?.ids, ['k1', 'k2']);
  const printed = JSON.stringify(describeConfig(ok)) + JSON.stringify(ok);
  assert.ok(!printed.includes(SECRET), 'secret in describeConfig or JSON of the config');
  assert.ok(!printed.includes(KEY.slice(KEY.indexOf('/') + 1)), 'key material in output');
  assert.match(JSON.stringify(describeConfig(ok)), /"value":"\*\*\*"/);
});

test('restore settings come from the environment only', () => {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'config.toml'), '[cluster]\nbackup_restore = "file:/x.sqlite"\n');
  assert.equal(loadConfig({ env: {}, cwd }).restore.source, undefined);
  const c = loadConfig({ env: { HQL_BACKUP_RESTORE: 's3:latest', HQL_BACKUP_SKIP_VALIDATION: 'true', HQL_BACKUP_RESTORE_FORCE: 'true', HQL_BACKUP_RESTORE_EXPECT_TABLES: 'users, sessions' }, cwd });
  assert.deepEqual([c.restore.source, c.restore.skipValidation, c.restore.force, c.restore.expectTables], ['s3:latest', true, true, ['users', 'sessions']]);
});

test('empty environment variables count as unset; time zone validated', () => {
  const c = loadConfig({ cwd: tempDir(), env: { HQL_S3_URL: '', HQL_NODE_ID: '', HQL_BACKUP_CRON_TZ: 'Europe/Berlin' } });
  assert.equal(c.s3, undefined);
  assert.equal(c.nodeId, 1);
  assert.equal(c.backupCronTz, 'Europe/Berlin');
  assert.match(problemsOf(() => loadConfig({ cwd: tempDir(), env: { HQL_BACKUP_CRON_TZ: 'Nowhere/City' } }))[0]!, /HQL_BACKUP_CRON_TZ.*"Nowhere\/City" is not a known IANA time zone/);
  assert.match(problemsOf(() => loadConfig({ cwd: tempDir(), env: { HQL_BACKUP_CRON: '0 0 0 30 2 *' } }))[0]!, /never fires again/);
});
