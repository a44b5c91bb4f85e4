import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ConfigView } from '../../src/config/redact.js';
import { generateKey } from '../../src/crypto/keys.js';
import { type CliResult, runCli } from '../support/cli.js';
import { tempDir } from '../support/tmp.js';

const SECRET = 'cli-secret-never-shown-314';
const ACCESS = 'AKIA-CLI-ACCESS-159';
const KEY = generateKey('k1');
const KEY2 = generateKey('k2');

function assertNothingSecret(results: readonly CliResult[]): void {
  for (const r of results) {
    const out = r.stdout + r.stderr;
    for (const s of [SECRET, ACCESS, KEY.slice(3), KEY2.slice(3), KEY.slice(3, 19)])
      assert.ok(!out.includes(s), `secret printed:\n${out}`);
  }
}

test('lifeboat config: effective values with origins, *** for secrets, key ids only; --json parses', async () => {
  const cwd = tempDir();
  writeFileSync(
    join(cwd, 'config.toml'),
    `[cluster]\nnode_id = 2\nbackup_keep_days = 9\nbackup_keep_dayz = 1\ns3_url = "https://s3.example.com"\n` +
      `s3_bucket = "bkt"\ns3_region = "r"\ns3_secret = "${SECRET}"\n` +
      `[encryption]\nkeys = ["${KEY}", "${KEY2}"]\nkey_active = "k1"\n`,
  );
  const env = { HQL_S3_KEY: ACCESS, HQL_BACKUP_KEEP_DAYS: '14', ENC_KEY_ACTIVE: 'k2' };
  const [text, json] = await Promise.all([
    runCli(['config'], { cwd, env }),
    runCli(['config', '--json'], { cwd, env }),
  ]);
  assert.equal(text.code, 0, text.stderr);
  assert.equal(text.stderr, '');
  assert.match(
    text.stdout,
    new RegExp(`^# config file: ${join(cwd, 'config.toml').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'),
  );
  assert.match(text.stdout, /^# warning: cluster\.backup_keep_dayz .* \(did you mean backup_keep_days\?\)$/m);
  assert.match(text.stdout, /^cluster\.node_id\s+= 2\s+# file, HQL_NODE_ID$/m);
  assert.match(text.stdout, /^cluster\.backup_keep_days\s+= 14\s+# env, HQL_BACKUP_KEEP_DAYS/m);
  assert.match(text.stdout, /^cluster\.backup_keep_days_local\s+= 3\s+# default, HQL_BACKUP_KEEP_DAYS_LOCAL/m);
  assert.match(text.stdout, /^cluster\.s3_key\s+= "\*\*\*"\s+# env, HQL_S3_KEY$/m);
  assert.match(text.stdout, /^cluster\.s3_secret\s+= "\*\*\*"\s+# file, HQL_S3_SECRET$/m);
  assert.match(text.stdout, /^encryption\.keys\s+= \["k1\/\*\*\*","k2\/\*\*\*"\]\s+# file, ENC_KEYS$/m);
  assert.match(text.stdout, /^encryption\.key_active\s+= "k2"\s+# env, ENC_KEY_ACTIVE$/m);
  assert.match(text.stdout, new RegExp(`^# database: ${join(cwd, 'data', 'state_machine', 'db', 'hiqlite.db')}$`, 'm'));

  assert.equal(json.code, 0, json.stderr);
  const view = JSON.parse(json.stdout) as ConfigView;
  assert.equal(view.configFile, join(cwd, 'config.toml'));
  assert.deepEqual(view.keys, { ids: ['k1', 'k2'], active: 'k2' });
  assert.deepEqual(
    view.entries.find((e) => e.key === 'cluster.s3_secret'),
    { key: 'cluster.s3_secret', env: 'HQL_S3_SECRET', value: '***', origin: 'file' },
  );
  assert.equal(view.entries.find((e) => e.key === 'cluster.backup_keep_days')?.value, 14);
  assert.equal(view.paths.backupsDir, join(cwd, 'data', 'state_machine', 'backups'));
  assert.equal(view.warnings.length, 1);
  assertNothingSecret([text, json]);
});

test('lifeboat config: invalid settings exit 2 and name every problem at once, without secrets', async () => {
  const cwd = tempDir();
  writeFileSync(
    join(cwd, 'bad.toml'),
    `[cluster]\nbackup_keep_days_local = "three"\ns3_secret = "${SECRET}"\n` +
      `[encryption]\nkeys = ["k1/${KEY.slice(3, 20)}"]\n`,
  );
  writeFileSync(join(cwd, 'broken.toml'), `[cluster]\ns3_secret = "${SECRET}\n`);
  const env = {
    HQL_S3_URL: 'https://s3.example.com',
    HQL_S3_KEY: `${ACCESS} `,
    HQL_NODE_ID: '-1',
    HQL_S3_PATH_STYLE: 'yes',
    ENC_KEY_ACTIVE: 'k1',
  };
  const [bad, broken, missing] = await Promise.all([
    runCli(['config', '--config', 'bad.toml', '--json'], { cwd, env }),
    runCli(['config', '-c', 'broken.toml'], { cwd }),
    runCli(['config', '--config', 'nope.toml'], { cwd }),
  ]);
  assert.equal(bad.code, 2, bad.stdout + bad.stderr);
  assert.equal(bad.stdout, '', 'nothing on stdout when invalid, not even with --json');
  for (const re of [
    /- cluster\.node_id \(HQL_NODE_ID\): "-1" is not a whole number/,
    new RegExp(
      /- cluster\.backup_keep_days_local \(HQL_BACKUP_KEEP_DAYS_LOCAL\) in \S+bad\.toml: /.source +
        /"three" is not a whole number of days \(0\.\.65535\)/.source,
    ),
    /- cluster\.s3_bucket \(HQL_S3_BUCKET\): required when s3_url is set/,
    /- cluster\.s3_region \(HQL_S3_REGION\): required when s3_url is set/,
    /- cluster\.s3_key \(HQL_S3_KEY\): \*\*\* ends in whitespace/,
    /- cluster\.s3_path_style \(HQL_S3_PATH_STYLE\): "yes" must be true or false/,
    /- encryption\.keys \(ENC_KEYS\) in \S+bad\.toml, entry 1 \(id "k1"\): /,
  ]) {
    assert.match(bad.stderr, re);
  }
  assert.equal(bad.stderr.match(/^ {2}- /gm)?.length, 7, bad.stderr);
  assert.match(bad.stderr, /hint: .*docs\/configuration\.md/);
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /broken\.toml: invalid TOML at line 2, column \d+/);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nope\.toml: does not exist/);
  assertNothingSecret([bad, broken, missing]);
});

test('a bad HQL_BACKUP_RESTORE exits 2 as the configuration is read: before S3, the lock or any file', async () => {
  const cwd = tempDir();
  const env = {
    // TEST-NET-1 (RFC 5737): nothing answers there, so a connection attempt could only time out.
    HQL_S3_URL: 'http://192.0.2.1:9000',
    HQL_S3_BUCKET: 'bkt',
    HQL_S3_REGION: 'r',
    HQL_S3_KEY: ACCESS,
    HQL_S3_SECRET: SECRET,
    ENC_KEYS: KEY,
    ENC_KEY_ACTIVE: 'k1',
    HQL_BACKUP_RESTORE: 's3:a/b',
  };
  const [serve, config, good] = await Promise.all([
    runCli(['serve'], { cwd, env }),
    runCli(['config'], { cwd, env }),
    runCli(['config'], { cwd, env: { ...env, HQL_BACKUP_RESTORE: ' s3:latest ' } }),
  ]);
  for (const r of [serve, config]) {
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    // One problem and the hint, nothing else: no S3 error, no log line of a start.
    assert.match(
      r.stderr,
      /^lifeboat: HQL_BACKUP_RESTORE: "s3:a\/b" is a path, not an object name; [^\n]*s3:latest[^\n]*\n {2}hint: .*\n$/,
    );
  }
  assert.deepEqual(readdirSync(cwd), [], 'nothing created: no data folder, no lock');
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /^HQL_BACKUP_RESTORE\s+= "s3:latest"\s+# env; a restore runs at start-up$/m);
  assertNothingSecret([serve, config, good]);
});
